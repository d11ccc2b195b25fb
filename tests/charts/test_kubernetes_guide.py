"""docs/kubernetes.md against the chart: every Secret it tells you to read is one the chart creates for
a release named as in the guide (`flags`) installed without token values."""

from __future__ import annotations

import re

from tests.support.charts.chart import RELEASE, render
from tests.support.paths import DOCS


def test_every_secret_the_guide_reads_is_the_one_the_chart_makes() -> None:
    guide = (DOCS / "kubernetes.md").read_text()
    read = set(re.findall(r"kubectl [^\n]*?get secret ([a-z0-9-]+)", guide))
    assert read, "the guide names no Secret to read"
    assert RELEASE == "flags"  # the guide's release name
    made = {secret["metadata"]["name"] for secret in render().all("Secret")}
    tokens = {name for name in read if name != "flags-postgresql"}
    assert tokens <= made, (tokens, made)
    assert len(tokens) == 1, f"the guide names more than one token Secret: {sorted(tokens)}"

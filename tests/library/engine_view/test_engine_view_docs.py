"""README, "Hatchet's own run view": it names what the code uses (key, metric, switch, grace)."""

from __future__ import annotations

from hatchet_trace_flags._engine_view.processor import grace_for
from hatchet_trace_flags._engine_view.traceparents import FAMILY_METADATA_KEY
from hatchet_trace_flags._engine_view.view import LEFT_OUT_METRIC
from hatchet_trace_flags._settings import env_var
from tests.support.paths import REPO

README = REPO / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("### Hatchet's own run view")
    return text[start : text.index("\n## ", start)]


def test_the_readme_names_the_key_the_metric_and_the_switch() -> None:
    text = section()
    for name in (FAMILY_METADATA_KEY, LEFT_OUT_METRIC, env_var("hatchet_run_view"), "hatchet_run_view=False"):
        assert name in text, name
    assert "docs/images/hatchet-run-view.svg" in text
    assert (README.parent / "docs/images/hatchet-run-view.svg").is_file()


def test_the_grace_is_what_the_readme_says() -> None:
    assert "at least a minute (twice the exporter's schedule delay if longer)" in " ".join(section().split())
    assert grace_for({}) == 60.0
    assert grace_for({"schedule_delay_millis": 45_000}) == 90.0

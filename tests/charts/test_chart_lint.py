"""`helm lint --strict` with the real Helm library, for every scenario and the supported range."""

from __future__ import annotations

import shutil
from pathlib import Path

import helm_python as helm
import pytest

from tests.support.charts.chart import CHART_DIR, KUBE_VERSIONS, SCENARIOS, scenario_values


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_strict_lint_is_clean(scenario: str, kube: str) -> None:
    report = helm.lint(CHART_DIR, scenario_values(scenario), strict=True, kube_version=f"v{kube}.0")
    assert report["errors"] == []
    assert report["messages"] == []


def test_strict_lint_of_the_defaults_is_clean() -> None:
    report = helm.lint(CHART_DIR, strict=True, kube_version=f"v{KUBE_VERSIONS[-1]}.0")
    assert report["errors"] == []
    assert report["messages"] == []


def test_lint_catches_a_broken_template(tmp_path: Path) -> None:
    """Guards the assertions above: a lint that reports nothing for anything would pass them."""
    broken = tmp_path / "hatchet-trace-flags"
    shutil.copytree(CHART_DIR, broken)
    service = broken / "templates" / "service.yaml"
    service.write_text(service.read_text().replace("{{- end }}", "", 1))

    report = helm.lint(broken, scenario_values("sqlite"), strict=True)

    assert report["errors"] or [m for m in report["messages"] if m["severity"] >= 2]

"""The README's values table is regenerated from values.yaml and must not drift."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.charts.chart import CHART_DIR, REPO_ROOT

SCRIPT = REPO_ROOT / "charts" / "values_table.py"


@pytest.fixture(scope="module")
def values_table() -> ModuleType:
    # charts/ is not a package: load the script the way `python charts/values_table.py` runs it.
    spec = importlib.util.spec_from_file_location("values_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_values_yaml(values_table: ModuleType) -> None:
    readme = (CHART_DIR / "README.md").read_text()
    regenerated = values_table.updated_readme(readme, (CHART_DIR / "values.yaml").read_text())
    assert regenerated == readme, "run: python charts/values_table.py"


def test_every_value_is_documented(values_table: ModuleType) -> None:
    assert values_table.undocumented_values((CHART_DIR / "values.yaml").read_text()) == []


def test_table_rows_carry_key_type_default_and_description(values_table: ModuleType) -> None:
    rows = {row.key: row for row in values_table.documented_values((CHART_DIR / "values.yaml").read_text())}
    assert rows["database.type"].type == "string"
    assert rows["database.type"].default == '"sqlite"'
    assert rows["replicaCount"].type == "int"
    assert rows["persistence.accessModes"].default == '["ReadWriteOnce"]'
    assert rows["database.postgresql.existingSecret"].description.startswith(
        "Name of an existing Secret holding the PostgreSQL URL (`postgresql://"
    )
    # A documented mapping is one row; its undocumented children are not listed separately.
    assert "resources" in rows
    assert "resources.requests" not in rows


def test_undocumented_value_is_an_error(values_table: ModuleType) -> None:
    values = "# -- Documented.\nknown: 1\nsection:\n  # -- Documented child.\n  child: a\n  orphan: b\n"
    assert values_table.undocumented_values(values) == ["section.orphan"]
    with pytest.raises(values_table.ValuesDocError, match=r"section\.orphan"):
        values_table.updated_readme(f"{values_table.START_MARKER}\n{values_table.END_MARKER}\n", values)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_check_mode_fails_on_drift_and_the_script_repairs_it(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART_DIR, chart)
    assert _run("--check", chart).returncode == 0

    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("# -- Log level of the service.", "# -- Verbosity."))
    drifted = _run("--check", chart)
    assert drifted.returncode == 1
    assert "out of date" in drifted.stderr

    assert _run(chart).returncode == 0
    assert '| logLevel | string | `"info"` | Verbosity. |' in (chart / "README.md").read_text()
    assert _run("--check", chart).returncode == 0

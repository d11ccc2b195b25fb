"""The service's layers (docs/server-design.md): every module is in the table there, and imports
point down only: routes -> http -> service -> store, with support modules beneath all of them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import hatchet_trace_flags_server
import pytest

PACKAGE = Path(hatchet_trace_flags_server.__file__).parent
DESIGN = Path(__file__).parents[2] / "docs" / "server-design.md"
ROW = re.compile(r"^\| `(?P<module>[\w/]+)` \| (?P<layer>\w+) \| .+ \|$")

# What each layer may import besides itself ("wiring" may import anything).
ALLOWED: dict[str, set[str]] = {
    "routes": {"http", "service", "support"},
    "http": {"service", "store", "support"},
    "service": {"store", "support"},
    "store": {"support"},
    "support": set(),
}


def _layers() -> dict[str, str]:
    rows = [ROW.match(line) for line in DESIGN.read_text(encoding="utf-8").splitlines()]
    return {match["module"]: match["layer"] for match in rows if match is not None}


def _modules() -> Iterator[str]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] != "_migrations":
            yield relative.with_suffix("").as_posix()


def _imports(module: str, source: str | None = None) -> set[str]:
    """The package's modules that ``module`` imports, as table names (``_dashboard/forms``)."""
    tree = ast.parse(source if source is not None else (PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    package = module.split("/")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
        elif node.module is not None and node.module.startswith("hatchet_trace_flags_server"):
            base = []
        else:
            continue
        parts = [
            part for part in (node.module or "").split(".") if part not in ("", "hatchet_trace_flags_server")
        ]
        target = "/".join([*base, *parts])
        if not parts:  # "from . import _api_tasks": the names are modules
            found.update("/".join([*base, alias.name]) for alias in node.names)
        elif target:
            found.add(target)
    return {name if name in _layers() else f"{name}/__init__" for name in found} - {module}


def test_every_module_is_in_the_design_table_once() -> None:
    documented = _layers()
    assert set(documented) == set(_modules())
    assert set(documented.values()) <= {*ALLOWED, "wiring"}


def _wrong_imports(module: str, source: str | None = None) -> set[str]:
    layers = _layers()
    layer = layers[module]
    if layer == "wiring":
        return set()
    return {
        f"{target} ({layers[target]})"
        for target in _imports(module, source)
        if layers[target] != layer and layers[target] not in ALLOWED[layer]
    }


@pytest.mark.parametrize("module", list(_modules()))
def test_imports_point_down(module: str) -> None:
    wrong = _wrong_imports(module)
    assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize(
    ("module", "source", "caught"),
    [
        ("_dashboard/views", "from hatchet_trace_flags_server._store import Store", "_store (store)"),
        ("_api_tasks", "from ._rule_writes import RuleWrites", "_rule_writes (store)"),
        ("_flag_service", "from ._services import Services", "_services (http)"),
        ("_rule_queries", "from ._flag_service import FlagService", "_flag_service (service)"),
        ("_records", "from . import _feed", "_feed (service)"),
    ],
)
def test_the_check_catches_an_import_against_the_arrows(module: str, source: str, caught: str) -> None:
    assert _wrong_imports(module, source) == {caught}

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
    # Request helpers that own rows (dashboard sessions) or the database handle (readiness).
    "http": {"service", "store", "support"},
    "service": {"store", "support"},
    "store": {"support"},
    "support": set(),
}


def _rows() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in DESIGN.read_text(encoding="utf-8").splitlines()]
    return [(match["module"], match["layer"]) for match in rows if match is not None]


def _layers() -> dict[str, str]:
    return dict(_rows())


def _family(module: str) -> str:
    """Routes of one family may import each other: the dashboard's modules, or one API module."""
    return module.split("/")[0] if "/" in module else module


def _modules() -> Iterator[str]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] != "_migrations":
            yield relative.with_suffix("").as_posix()


def _imports(module: str, source: str | None = None) -> set[str]:
    """The package's modules that ``module`` imports, as table names (``_dashboard/forms``)."""
    text = source if source is not None else (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    package = module.split("/")[:-1]
    layers = _layers()
    named: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            named.update(inside for alias in node.names if (inside := _in_package(alias.name)) is not None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "/".join(package[: len(package) - (node.level - 1)])
                target = "/".join(part for part in (base, (node.module or "").replace(".", "/")) if part)
            elif node.module is not None and (inside := _in_package(node.module)) is not None:
                target = inside
            else:
                continue
            # "from . import _api_tasks", "from pkg import _store": the names are modules.
            modules = {
                name for alias in node.names if (name := f"{target}/{alias.name}".lstrip("/")) in layers
            }
            named.update(modules or {target})
        elif (dotted := _imported_by_name(node)) is not None and (inside := _in_package(dotted)) is not None:
            named.add(inside)
    found = {name if name in layers else f"{name}/__init__".lstrip("/") for name in named}
    return found - {module}


def _in_package(dotted: str) -> str | None:
    """``hatchet_trace_flags_server.dashboard.forms`` -> ``_dashboard/forms``, the package itself
    -> "", another package -> None."""
    parts = dotted.split(".")
    return "/".join(parts[1:]) if parts[0] == "hatchet_trace_flags_server" else None


def _imported_by_name(node: ast.AST) -> str | None:
    """The module an ``import_module("...")`` call names, if ``node`` is one."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    return str(node.args[0].value) if name == "import_module" else None


def test_every_module_is_in_the_design_table_once() -> None:
    rows = _rows()
    names = [module for module, _layer in rows]
    assert sorted(names) == sorted(set(names)), "a module is listed twice"
    assert set(names) == set(_modules())
    assert {layer for _module, layer in rows} <= {*ALLOWED, "wiring"}


def _wrong_imports(module: str, source: str | None = None) -> set[str]:
    layers = _layers()
    layer = layers[module]
    if layer == "wiring":
        return set()
    wrong = set()
    for target in _imports(module, source):
        other = layers[target]
        across_layers = other != layer and other not in ALLOWED[layer]
        across_route_families = other == layer == "routes" and _family(target) != _family(module)
        if across_layers or across_route_families:
            wrong.add(f"{target} ({other})")
    return wrong


@pytest.mark.parametrize("module", list(_modules()))
def test_imports_point_down(module: str) -> None:
    wrong = _wrong_imports(module)
    assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize(
    ("module", "source", "caught"),
    [
        ("_dashboard/views", "from hatchet_trace_flags_server.store.store import Store", "_store (store)"),
        ("_api_tasks", "from ._rule_writes import RuleWrites", "_rule_writes (store)"),
        ("_flag_service", "from ._services import Services", "_services (http)"),
        ("_rule_queries", "from ._flag_service import FlagService", "_flag_service (service)"),
        ("_records", "from . import _feed", "_feed (service)"),
        ("_api_tasks", "import hatchet_trace_flags_server.store.seen_tasks as seen", "_seen_store (store)"),
        ("_ofrep", "from hatchet_trace_flags_server import _db", "_db (store)"),
        ("_ofrep", "importlib.import_module('hatchet_trace_flags_server.store.store')", "_store (store)"),
        ("_dashboard/views", "from .._api_tasks import router", "_api_tasks (routes)"),
        ("_api_rules", "from ._api_tasks import list_tasks", "_api_tasks (routes)"),
        ("_auth", "from ._api_health import router", "_api_health (routes)"),
    ],
)
def test_the_check_catches_an_import_against_the_arrows(module: str, source: str, caught: str) -> None:
    assert _wrong_imports(module, source) == {caught}

"""docs/server.md's settings table is checked against ``Settings``: every variable is listed, nothing
else is, and each documented default is the one in the code (one home for each fact)."""

from __future__ import annotations

import re
from pathlib import Path

from hatchet_trace_flags_server.core.settings import Settings

from tests.support.paths import REPO

_CODE = re.compile(r"`([^`]*)`")


def _table() -> dict[str, str]:
    """Variable -> its documented default, as written (``AUTH_X_RATE``, ``_BURST`` rows expanded)."""
    text = (REPO / "docs" / "server.md").read_text()
    start = text.index("| Variable | Default | Meaning |")
    rows = text[start : text.index("\n\n", start)].splitlines()[2:]
    documented: dict[str, str] = {}
    for row in rows:
        variables, defaults = (cell.strip() for cell in row.split("|")[1:3])
        names = _CODE.findall(variables)
        values = _CODE.findall(defaults) or [defaults] * len(names)
        if len(values) == 1:
            values *= len(names)
        full_names = [names[0]] + [
            names[0].rsplit("_", 1)[0] + name for name in names[1:] if name.startswith("_")
        ]
        full_names += [name for name in names[1:] if not name.startswith("_")]
        documented.update(zip(full_names, values, strict=True))
    return documented


def _same(documented: str, default: object) -> bool:
    if default is None:
        return documented == "unset"
    if default == "":
        return documented == "empty"
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        return float(documented) == float(default)
    if isinstance(default, Path):
        return Path(documented) == default
    return documented == str(default)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = _table()
    fields = {name.upper(): field.default for name, field in Settings.model_fields.items()}
    assert sorted(documented) == sorted(fields)
    wrong = {
        name: (documented[name], fields[name]) for name in fields if not _same(documented[name], fields[name])
    }
    assert wrong == {}

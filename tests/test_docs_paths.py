"""Every file the README and docs/ name in backticks exists: in this repository (a path may be written
relative to its package, ``store/caps.py``) or, for hatchet-sdk's own files, in the installed hatchet-sdk.
Files move (the house move renamed most of the service's modules) and prose does not follow by itself."""

from __future__ import annotations

import re
from pathlib import Path

import hatchet_sdk

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMED_FILE = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.(?:py|md|json|yaml|toml|sh))(?::\d+)?`")
HATCHET_SDK = Path(hatchet_sdk.__file__).parent


SHIPPED = ("hatchet_trace_flags", "server", "tests", "benchmarks", "examples", "docs", "charts", "scripts")


def _tracked() -> list[str]:
    return [
        path.relative_to(ROOT).as_posix()
        for top in SHIPPED
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ] + [path.name for path in ROOT.iterdir() if path.is_file()]


def _exists(path: str, tracked: list[str]) -> bool:
    return (
        any(name == path or name.endswith(f"/{path}") for name in tracked) or (HATCHET_SDK / path).is_file()
    )


def test_every_file_the_docs_name_exists() -> None:
    tracked = _tracked()
    missing = [
        f"{document.relative_to(ROOT)}: {match.group(1)}"
        for document in DOCUMENTS
        for match in NAMED_FILE.finditer(document.read_text(encoding="utf-8"))
        if not _exists(match.group(1), tracked)
    ]
    assert missing == []
    assert len(DOCUMENTS) > 10  # the glob found the docs


def test_a_moved_file_is_caught() -> None:
    assert not _exists("hatchet_trace_flags_server/_insight_service.py", _tracked())
    assert _exists("store/caps.py", _tracked())

"""Regenerate the values table in a chart's README from the `# --` comments in its values.yaml.

The comment convention is helm-docs': a comment starting with `# --` directly above a key documents
that key; following `#` lines continue the description. A documented mapping is listed with its whole
default and its documented children are listed as well.

    python charts/values_table.py                  # rewrite charts/hatchet-trace-flags/README.md
    python charts/values_table.py --check          # exit 1 when the README is out of date (CI)
    python charts/values_table.py --check CHART_DIR

The table sits between the `<!-- values-table:start -->` and `<!-- values-table:end -->` markers.
Every value must be documented, itself or through a documented parent: an undocumented value is an
error, so a new value cannot slip into values.yaml without a line in the README.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

START_MARKER = "<!-- values-table:start -->"
END_MARKER = "<!-- values-table:end -->"
DEFAULT_CHART = Path(__file__).resolve().parent / "hatchet-trace-flags"

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_-]*):(?:\s|$)")
_DOC_START = re.compile(r"^\s*# -- ?(?P<text>.*)$")
_COMMENT = re.compile(r"^\s*# ?(?P<text>.*)$")


@dataclass(frozen=True)
class ValueDoc:
    """One row of the table."""

    key: str
    type: str
    default: str
    description: str


class ValuesDocError(ValueError):
    """values.yaml or the README cannot be turned into a table."""


def _type_name(value: Any) -> str:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for part in path:
        node = node[part]
    return node


def _scan(values_text: str) -> tuple[dict[tuple[str, ...], str], dict[str, Any]]:
    """Map each documented key path to its description, following the YAML's indentation."""
    values = yaml.safe_load(values_text) or {}
    if not isinstance(values, dict):
        raise ValuesDocError("values.yaml must be a mapping")
    descriptions: dict[tuple[str, ...], str] = {}
    parents: list[tuple[int, str]] = []
    pending: list[str] | None = None
    skip_deeper_than: int | None = None
    for line in values_text.splitlines():
        if not line.strip():
            pending = None
            continue
        indent = len(line) - len(line.lstrip(" "))
        if skip_deeper_than is not None:
            if indent > skip_deeper_than or line.lstrip().startswith("- "):
                continue
            skip_deeper_than = None
        if doc := _DOC_START.match(line):
            pending = [doc["text"].strip()]
            continue
        if comment := _COMMENT.match(line):
            if pending is not None:
                pending.append(comment["text"].strip())
            continue
        key_line = _KEY_LINE.match(line)
        if key_line is None:
            raise ValuesDocError(f"cannot follow this line of values.yaml: {line!r}")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = (*(key for _, key in parents), key_line["key"])
        if pending is not None:
            descriptions[path] = " ".join(part for part in pending if part)
            pending = None
        value = _lookup(values, path)
        if isinstance(value, dict) and value:
            parents.append((indent, key_line["key"]))
        else:
            # A list or block scalar: its lines are the value, not keys.
            skip_deeper_than = indent
    return descriptions, values


def _leaf_paths(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        return [leaf for key, child in node.items() for leaf in _leaf_paths(child, (*path, key))]
    return [path]


def undocumented_values(values_text: str) -> list[str]:
    """Values documented neither themselves nor through a parent."""
    descriptions, values = _scan(values_text)
    return [
        ".".join(leaf)
        for leaf in _leaf_paths(values)
        if not any(leaf[:size] in descriptions for size in range(1, len(leaf) + 1))
    ]


def documented_values(values_text: str) -> list[ValueDoc]:
    """The table rows, in values.yaml order."""
    descriptions, values = _scan(values_text)
    rows = []
    for path, description in descriptions.items():
        value = _lookup(values, path)
        rows.append(
            ValueDoc(
                key=".".join(path),
                type=_type_name(value),
                default=json.dumps(value, separators=(",", ":")),
                description=description,
            )
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(rows: list[ValueDoc]) -> str:
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    lines += [
        f"| {_cell(row.key)} | {row.type} | `{_cell(row.default)}` | {_cell(row.description)} |"
        for row in rows
    ]
    return "\n".join(lines)


def updated_readme(readme_text: str, values_text: str) -> str:
    """The README with its table regenerated; raises on undocumented values or missing markers."""
    if missing := undocumented_values(values_text):
        raise ValuesDocError("undocumented values (add a `# --` comment): " + ", ".join(missing))
    start, end = readme_text.find(START_MARKER), readme_text.find(END_MARKER)
    if start == -1 or end < start:
        raise ValuesDocError(f"README needs {START_MARKER} followed by {END_MARKER}")
    table = render_table(documented_values(values_text))
    return f"{readme_text[: start + len(START_MARKER)]}\n{table}\n{readme_text[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", nargs="?", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--check", action="store_true", help="fail instead of rewriting")
    args = parser.parse_args(argv)
    readme_path: Path = args.chart / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    try:
        expected = updated_readme(readme, (args.chart / "values.yaml").read_text(encoding="utf-8"))
    except ValuesDocError as error:
        print(f"{readme_path}: {error}", file=sys.stderr)
        return 1
    if expected == readme:
        return 0
    if args.check:
        print(f"{readme_path} is out of date: run python charts/values_table.py", file=sys.stderr)
        return 1
    readme_path.write_text(expected, encoding="utf-8")
    print(f"updated {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

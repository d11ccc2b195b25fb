"""``hatchet-trace-flags export`` and ``import``: the whole rule set out and in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hatchet_trace_flags.contract import REVISION_HEADER

from .client import Client
from .import_command import run_import

__all__ = ["add_transfer_commands"]


def add_transfer_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    client: argparse.ArgumentParser,
    conditional: argparse.ArgumentParser,
) -> None:
    export = commands.add_parser(
        "export",
        parents=[client],
        help="download the rule set",
        description="Print (or write to --output) the whole rule set: tasks, patterns, the default mode "
        "and the kill switch. `import` takes either format back.",
    )
    export.add_argument(
        "--format",
        choices=("native", "flagd"),
        default="native",
        help="native: a rules document (docs/rules.md); flagd: a flagd flag definition (default native)",
    )
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(handler=_export)

    importer = commands.add_parser(
        "import",
        parents=[client, conditional],
        help="replace the rule set",
        description="Replace the whole rule set (tasks, patterns, default and kill switch) with a rules "
        "document, or with a flagd document written by `export --format flagd` / to_flagd(). Shows what "
        "changes first and warns when the default or the kill switch changes.",
    )
    importer.add_argument("file", help="rules or flagd document (JSON), or - for stdin")
    importer.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    importer.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="apply a change of the default mode or the kill switch without asking (needed without a "
        "terminal, e.g. in scripts)",
    )
    importer.set_defaults(handler=run_import)


def _export(client: Client, arguments: argparse.Namespace) -> None:
    response = client.request("GET", "/api/v1/export", params={"format": arguments.format})
    if arguments.output in (None, "-"):
        sys.stdout.write(response.text.rstrip("\n") + "\n")
    else:
        Path(arguments.output).write_bytes(response.content)
        print(f"wrote {arguments.output} (revision {response.headers.get(REVISION_HEADER)})")

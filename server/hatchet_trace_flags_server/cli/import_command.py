"""``hatchet-trace-flags import``: show what an import changes, then apply it (unless --dry-run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hatchet_trace_flags.contract import REVISION_HEADER, RuleSet
from hatchet_trace_flags_server.core.conditions import ConditionError, parse_entity_tags

from .client import Client, CommandError, print_json
from .import_plan import ImportPlan, parse_import

__all__ = ["run_import"]


def run_import(client: Client, arguments: argparse.Namespace) -> None:

    try:
        content = sys.stdin.buffer.read() if arguments.file == "-" else Path(arguments.file).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {arguments.file}: {error.strerror}", exit_code=2) from None
    try:
        incoming = parse_import(content)
    except ValueError as error:
        raise CommandError(f"{arguments.file}: {error}; nothing was changed") from None
    # The current rule set, to show what the import replaces; its ETag makes the import refuse
    # (412) if someone changes the rules between this summary and the import.
    current = client.request("GET", "/api/v1/export", params={"format": "native"})
    _check_if_match(arguments.if_match, current.headers["ETag"], current.headers.get(REVISION_HEADER))
    plan = ImportPlan(RuleSet.loads(current.content), incoming)
    if client.as_json:
        report: dict[str, Any] = {"dry_run": arguments.dry_run, "plan": plan.to_json()}
    else:
        print("\n".join(plan.summary(current.headers.get(REVISION_HEADER))))
        for warning in plan.warnings():
            print(f"warning: {warning}", file=sys.stderr)
    if arguments.dry_run:
        if client.as_json:
            print_json(report)
        else:
            print("dry run: nothing was changed")
        return
    if plan.changes_switches and not arguments.yes:
        _confirm(arguments.file == "-")
    params = {"note": arguments.note} if arguments.note is not None else {}
    try:
        result = client.request(
            "POST",
            "/api/v1/import",
            content=incoming.rules.dumps().encode(),
            params=params,
            headers={
                "Content-Type": "application/json",
                "If-Match": arguments.if_match or current.headers["ETag"],
            },
        ).json()
    except CommandError as error:
        if str(error).startswith("412"):
            raise CommandError(
                "412: the rule set changed while importing; nothing was changed. Run the import again "
                "to see the difference against the new rules"
            ) from None
        raise
    if client.as_json:
        print_json({**report, "result": result})
    elif result["changed"]:
        print(f"imported: revision {result['revision']}, ETag {result['etag']}")
    else:
        print(f"unchanged: the rule set already is that document (revision {result['revision']})")


def _check_if_match(if_match: str | None, etag: str, revision: str | None) -> None:
    """A stale ``--if-match`` is refused before anything is shown: the summary would describe a
    change against rules the import is not allowed to replace."""
    if if_match is None:
        return
    try:
        wanted = parse_entity_tags(if_match, name="--if-match")
    except ConditionError as error:
        raise CommandError(str(error), exit_code=2) from None
    served = parse_entity_tags(etag, name="ETag")
    current = next(iter(served.strong), None) if served is not None else None
    if wanted is not None and not wanted.strong_match(current):
        raise CommandError(
            f"412: the rule set is at ETag {etag} (revision {revision or '?'}), not --if-match {if_match}; "
            "nothing was changed. Run the import without --if-match to see what it changes now"
        )


def _confirm(document_on_stdin: bool) -> None:
    """Ask before an import changes the default mode or the kill switch (every task at once); without
    a terminal to ask on, only ``--yes`` lets it through."""
    if document_on_stdin or not sys.stdin.isatty():
        raise CommandError(
            "this import changes the default mode or the kill switch (see the warnings above), and there "
            "is no terminal to ask on: pass --yes to apply it. Nothing was changed",
            exit_code=2,
        )
    sys.stderr.write("Apply this import? [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("not imported: nothing was changed")

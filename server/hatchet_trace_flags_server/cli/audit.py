"""``hatchet-trace-flags audit``: the audit log, newest first."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from hatchet_trace_flags_server.core.records import ChangeKind

from .client import Client, print_json, table

__all__ = ["add_audit_command"]


def add_audit_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    audit = commands.add_parser(
        "audit",
        parents=[client],
        help="show the audit log",
        description="Who changed what, newest first: every change to a task, pattern or the settings, and "
        "every import, with its revision, time, actor and source (dashboard, cli, api).",
    )
    audit.add_argument("--kind", choices=get_args(ChangeKind), help="only changes of this kind")
    audit.add_argument("--key", help="only changes of this action_id or pattern")
    audit.add_argument("--actor", help="only changes by this token name")
    audit.add_argument("--limit", type=int, default=50, help="how many changes (default 50, up to 500)")
    audit.set_defaults(handler=_audit)


def _audit(client: Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit}
    for name in ("kind", "key", "actor"):
        if (value := getattr(arguments, name)) is not None:
            params[name] = value
    page = client.request("GET", "/api/v1/audit", params=params).json()
    if client.as_json:
        print_json(page)
        return
    table(
        [
            (item["revision"], item["at"], item["actor"], item["source"], item["kind"], item["key"])
            for item in page["items"]
        ],
        ("REVISION", "AT", "ACTOR", "SOURCE", "KIND", "KEY"),
    )

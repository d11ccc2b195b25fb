"""``hatchet-trace-flags workers list``: the workers heard from, which revision each applies, and the
fleet's summary ("38 of 40 workers on rev 112; 2 behind, last contact 4 min ago")."""

from __future__ import annotations

import argparse
from typing import Any

from hatchet_trace_flags.contract import WORKERS_PATH

from .client import Client, print_json, table

__all__ = ["add_workers_command"]

_HEADER = ("WORKER", "REVISION", "STATE", "LAST SEEN", "SINCE", "MODE", "HOST", "LIBRARY", "HATCHET-SDK")


def add_workers_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    workers = commands.add_parser("workers", help="the workers and the rules revision each applies")
    actions = workers.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[client], help="list workers heard from in the last day, with the fleet's summary"
    )
    listing.add_argument("--limit", type=int, default=1000, help="at most this many workers (1 to 1000)")
    listing.set_defaults(handler=_list)


def _row(item: dict[str, Any]) -> tuple[object, ...]:
    streaming = item["streaming"]
    return (
        item["worker"],
        "unknown" if item["revision"] is None else item["revision"],
        item["state"],
        item["last_seen"],
        item["applied_since"] or "-",
        "-" if streaming is None else ("stream" if streaming else "polling"),
        item["host"] or "-",
        item["library_version"] or "-",
        item["sdk_version"] or "-",
    )


def _list(client: Client, arguments: argparse.Namespace) -> None:
    page = client.request("GET", WORKERS_PATH, params={"limit": arguments.limit}).json()
    if client.as_json:
        print_json(page)
        return
    print(page["summary"]["text"])
    table([_row(item) for item in page["items"]], _HEADER)

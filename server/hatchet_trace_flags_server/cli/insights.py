"""``hatchet-trace-flags tasks insights [ACTION_ID]``: the fan-out numbers and recommendations."""

from __future__ import annotations

import argparse
from typing import Any

from hatchet_trace_flags_server.core.presenters import human_seconds

from .client import Client, key_path, print_json, table

__all__ = ["add_insights_command"]


def _seconds(value: float | None) -> str:
    return "-" if value is None else human_seconds(value)


def _row(item: dict[str, Any]) -> tuple[object, ...]:
    child, spawner, open_ = item["child"], item["spawner"], item["trace_open"]
    recommendation = item["recommendation"]
    advice = "-"
    if recommendation is not None:
        advice = recommendation["mode"] + (" (dismissed)" if recommendation["dismissed"] else "")
    return (
        item["action_id"],
        item["effective_mode"],
        round(spawner["children_per_run_mean"]) if spawner else "-",
        _seconds(spawner["duration_seconds"]["p50"]) if spawner else "-",
        child["runs"] if child else "-",
        _seconds(child["start_delay_seconds"]["p50"]) if child else "-",
        _seconds(child["start_delay_seconds"]["p95"]) if child else "-",
        f"{_seconds(open_['parent_seconds'])} -> {_seconds(open_['link_seconds'])}" if open_ else "-",
        advice,
    )


_HEADER = (
    "ACTION_ID",
    "MODE",
    "CHILDREN/RUN",
    "SPAWNER_P50",
    "STARTED",
    "DELAY_P50",
    "DELAY_P95",
    "TRACE_OPEN parent -> link",
    "RECOMMENDED",
)


def _insights(client: Client, arguments: argparse.Namespace) -> None:
    if arguments.action_id:
        item = client.request("GET", key_path("insights", arguments.action_id)).json()
        if client.as_json:
            print_json(item)
            return
        table([_row(item)], _HEADER)
        spawned_by = ", ".join(f"{s['action_id']} ({s['children']})" for s in item["spawned_by"])
        if spawned_by:
            print(f"spawned by: {spawned_by}")
        if item["recommendation"] is not None:
            print(
                item["recommendation"]["reason"]
                + (" [dismissed]" if item["recommendation"]["dismissed"] else "")
            )
            print(
                f"apply: hatchet-trace-flags tasks set {item['action_id']} {item['recommendation']['mode']}"
            )
        return
    params = {"recommended": "true"} if arguments.recommended else {}
    page = client.request("GET", "/api/v1/insights", params=params).json()
    if client.as_json:
        print_json(page)
        return
    table([_row(item) for item in page["items"]], _HEADER)
    for item in page["items"]:
        if item["recommendation"] is not None and not item["recommendation"]["dismissed"]:
            print(f"{item['action_id']}: {item['recommendation']['reason']}")
    print(f"over the last {_seconds(page['window_seconds'])}")


def add_insights_command(actions: Any, client: argparse.ArgumentParser) -> None:
    """``tasks insights``, added to the ``tasks`` group's sub-commands."""
    parser = actions.add_parser(
        "insights",
        parents=[client],
        help="fan-out numbers per task and the link recommendations",
        description="Children per spawning run, child start delay, spawner duration, how long a parent "
        "trace stays open in parent vs link mode, and whether link mode is recommended (docs/insight.md).",
    )
    parser.add_argument("action_id", nargs="?", metavar="ACTION_ID", help="one task (default: all)")
    parser.add_argument("--recommended", action="store_true", help="only tasks with a recommendation")
    parser.set_defaults(handler=_insights)

"""``hatchet-trace-flags tasks ...`` and ``patterns ...``: list, set and clear modes; forget discovered
tasks."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .client import (
    MAX_PAGE,
    MODES,
    Client,
    conditional_headers,
    fetch_page,
    key_path,
    page_footer,
    print_json,
    table,
)
from .timed import add_timed_arguments, describe_until, until_of

__all__ = ["add_rule_commands"]


def add_rule_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    client: argparse.ArgumentParser,
    conditional: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add ``tasks`` and ``patterns``; return the ``tasks`` group's actions (``insights`` joins them)."""
    paging = argparse.ArgumentParser(add_help=False)
    paging.add_argument("--search", help="substring of the name")
    paging.add_argument("--mode", choices=MODES, help="only this mode (tasks: the effective mode)")
    paging.add_argument("--limit", type=int, default=100, help=f"page size (up to {MAX_PAGE})")
    paging.add_argument("--offset", type=int, default=0, help="skip this many")
    paging.add_argument("--all", action="store_true", help="every page, not just one")

    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for kind, key_field, key_help in (
        ("tasks", "action_id", "action_id, e.g. prod_fanout-worker:process-item"),
        ("patterns", "pattern", "pattern, e.g. fanout-worker:* or *:send-email"),
    ):
        group = commands.add_parser(kind, help=f"list, set or clear {kind}")
        actions = groups[kind] = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", parents=[client, paging], help=f"list {kind}")
        if kind == "tasks":
            listing.set_defaults(handler=_tasks_list, configured=None)
            listing.add_argument(
                "--configured",
                dest="configured",
                action="store_true",
                default=None,
                help="only tasks with a mode of their own",
            )
            listing.add_argument(
                "--unconfigured",
                dest="configured",
                action="store_false",
                help="only tasks without one (they follow patterns and the default)",
            )
        else:
            listing.set_defaults(handler=_patterns_list)
        setter = actions.add_parser("set", parents=[client, conditional], help="set the mode")
        setter.add_argument("key", metavar=key_field.upper(), help=key_help)
        setter.add_argument(
            "mode", choices=MODES, help="link: a new trace with a span link; parent: a child span"
        )
        add_timed_arguments(setter, "this mode")
        setter.set_defaults(handler=_rule_set(kind, key_field))
        clearer = actions.add_parser("clear", parents=[client, conditional], help="remove the mode")
        clearer.add_argument("key", metavar=key_field.upper(), help=key_help)
        clearer.set_defaults(handler=_rule_clear(kind, key_field))

    tasks_actions = groups["tasks"]
    forget = tasks_actions.add_parser(
        "forget", parents=[client], help="forget discovered tasks (configured modes stay)"
    )
    forget.add_argument("action_ids", nargs="+", metavar="ACTION_ID", help="discovered tasks to forget")
    forget.set_defaults(handler=_tasks_forget)
    return tasks_actions


def _tasks_list(client: Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit, "offset": arguments.offset}
    if arguments.search:
        params["q"] = arguments.search
    if arguments.mode:
        params["mode"] = arguments.mode
    if arguments.configured is not None:
        params["configured"] = str(arguments.configured).lower()
    page = fetch_page(client, "/api/v1/tasks", params, arguments.all)
    if client.as_json:
        print_json(page)
        return
    table(
        [
            (
                item["action_id"] + (_LOOK_ALIKE if item.get("look_alike") else ""),
                item["effective_mode"],
                item["reason"],
                item["rule"],
                item["mode"],
                describe_until(item).strip() or None,
                item["last_seen"],
            )
            for item in page["items"]
        ],
        ("ACTION_ID", "EFFECTIVE", "REASON", "RULE", "CONFIGURED", "TIMED", "LAST_SEEN"),
    )
    page_footer(page)
    for item in page["items"]:
        if item.get("look_alike"):
            # !a (ascii): the escapes show the letter that renders like another (\u043e for a Cyrillic o).
            print(f"{_LOOK_ALIKE.strip()} {item['action_id']!a} {item['look_alike']}")


# Marks a name that mixes scripts (the service says why, Unicode TS #39): it may render like another.
_LOOK_ALIKE = "  [look-alike]"


def _show_rule(client: Client, item: dict[str, Any], key_field: str) -> None:
    if client.as_json:
        print_json(item)
        return
    mode = item["mode"] or "(not configured)"
    extra = f", effective {item['effective_mode']} ({item['reason']})" if "effective_mode" in item else ""
    print(f"{item[key_field]}: {mode}{describe_until(item)}{extra}, version {item['version']}")


def _rule_set(kind: str, key_field: str) -> Callable[[Client, argparse.Namespace], None]:
    def command(client: Client, arguments: argparse.Namespace) -> None:
        body: dict[str, Any] = {"mode": arguments.mode}
        if arguments.note is not None:
            body["note"] = arguments.note
        until = until_of(arguments)
        if until is not None:
            body["until"] = until
        item = client.request(
            "PUT", key_path(kind, arguments.key), json=body, headers=conditional_headers(arguments)
        ).json()
        _show_rule(client, item, key_field)

    return command


def _rule_clear(kind: str, key_field: str) -> Callable[[Client, argparse.Namespace], None]:
    def command(client: Client, arguments: argparse.Namespace) -> None:
        params = {"note": arguments.note} if arguments.note is not None else {}
        item = client.request(
            "DELETE", key_path(kind, arguments.key), params=params, headers=conditional_headers(arguments)
        ).json()
        _show_rule(client, item, key_field)

    return command


def _patterns_list(client: Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit, "offset": arguments.offset}
    if arguments.search:
        params["q"] = arguments.search
    if arguments.mode:
        params["mode"] = arguments.mode
    page = fetch_page(client, "/api/v1/patterns", params, arguments.all)
    if client.as_json:
        print_json(page)
        return
    table(
        [
            (
                item["pattern"],
                item["mode"],
                describe_until(item).strip() or None,
                item["updated_by"],
                item["note"],
            )
            for item in page["items"]
        ],
        ("PATTERN", "MODE", "TIMED", "UPDATED_BY", "NOTE"),
    )
    page_footer(page)


def _tasks_forget(client: Client, arguments: argparse.Namespace) -> None:
    result = client.request("POST", "/api/v1/tasks/forget", json={"action_ids": arguments.action_ids}).json()
    if client.as_json:
        print_json(result)
        return
    print(f"forgot {result['forgotten']} of {len(set(arguments.action_ids))} discovered tasks")

"""``hatchet-trace-flags settings show | set``: the default mode and the links kill switch."""

from __future__ import annotations

import argparse
from typing import Any

from .client import MODES, Client, CommandError, conditional_headers, print_json
from .timed import add_timed_arguments, describe_until, until_of

__all__ = ["add_settings_command"]


def add_settings_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    client: argparse.ArgumentParser,
    conditional: argparse.ArgumentParser,
) -> None:
    settings = commands.add_parser(
        "settings",
        help="default mode and links kill switch",
        description="The default mode (for tasks no setting or pattern covers) and the kill switch "
        "(--links-enabled false puts every task in parent mode).",
    )
    settings_actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    settings_actions.add_parser(
        "show", parents=[client], help="print the default mode and the kill switch"
    ).set_defaults(handler=_settings_show)
    setter = settings_actions.add_parser(
        "set", parents=[client, conditional], help="change the default mode and/or the kill switch"
    )
    setter.add_argument("--default", choices=MODES, help="mode of tasks nothing else covers")
    setter.add_argument(
        "--links-enabled", type=_boolean, metavar="true|false", help="false: the kill switch, all parent"
    )
    add_timed_arguments(setter, "the kill switch as given")
    setter.set_defaults(handler=_settings_set)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _show_settings(client: Client, settings: dict[str, Any]) -> None:
    if client.as_json:
        print_json(settings)
        return
    print(f"default: {settings['default']}")
    print(f"links_enabled: {str(settings['links_enabled']).lower()}{describe_until(settings)}")
    print(f"version: {settings['version']}")


def _settings_show(client: Client, _arguments: argparse.Namespace) -> None:
    _show_settings(client, client.request("GET", "/api/v1/settings").json())


def _settings_set(client: Client, arguments: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    if arguments.default is not None:
        body["default"] = arguments.default
    if arguments.links_enabled is not None:
        body["links_enabled"] = arguments.links_enabled
    if not body:
        raise CommandError("nothing to change: give --default and/or --links-enabled", exit_code=2)
    until = until_of(arguments)
    if until is not None:
        if arguments.links_enabled is None or arguments.default is not None:
            raise CommandError(
                "--for/--until time the kill switch only: give --links-enabled alone", exit_code=2
            )
        body["until"] = until
    if arguments.note is not None:
        body["note"] = arguments.note
    settings = client.request(
        "PATCH", "/api/v1/settings", json=body, headers=conditional_headers(arguments)
    ).json()
    _show_settings(client, settings)

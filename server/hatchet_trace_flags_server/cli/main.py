"""``hatchet-trace-flags``: run the service, or manage it through its API.

    hatchet-trace-flags serve [--host H] [--port P] [--database-url URL] [--data-dir DIR]
    hatchet-trace-flags tasks list [--search TEXT] [--mode link|parent] [--configured|--unconfigured] [--all]
    hatchet-trace-flags tasks set ACTION_ID link|parent [--note TEXT]
    hatchet-trace-flags tasks clear ACTION_ID
    hatchet-trace-flags tasks insights [ACTION_ID] [--recommended]
    hatchet-trace-flags patterns list | set PATTERN MODE | clear PATTERN
    hatchet-trace-flags settings show | set [--default MODE] [--links-enabled true|false]
    hatchet-trace-flags export [--format native|flagd] [--output FILE]
    hatchet-trace-flags import FILE|- [--dry-run] [--yes] [--if-match ETAG]   (rules or to_flagd() document)
    hatchet-trace-flags audit [--kind K] [--key KEY] [--actor NAME] [--limit N]

Client commands talk to ``--url`` (``HATCHET_TRACE_FLAGS_URL``, default http://127.0.0.1:8080) with
an admin token: ``--token`` or ``HATCHET_TRACE_FLAGS_CLI_TOKEN``. ``HATCHET_TRACE_FLAGS_TOKEN`` still
works but is deprecated here: workers read their *read* token from it, so a shell with a worker's
environment would send the wrong one. ``--json`` prints the API's JSON as is. Exit status: 0 done, 1
the API refused or could not be reached, 2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from hatchet_trace_flags.contract import REVISION_HEADER
from hatchet_trace_flags_server.core.records import ChangeKind

from .client import DEFAULT_URL, DEPRECATED_TOKEN_VARIABLE, MAX_PAGE, TOKEN_VARIABLE, URL_VARIABLE
from .client import Client as _Client
from .client import CommandError as _CommandError
from .client import conditional_headers as _headers
from .client import fetch_page as _fetch_page
from .client import key_path as _key_path
from .client import page_footer as _page_footer
from .client import print_json as _print_json
from .client import table as _table
from .import_command import run_import as _import
from .insights import add_insights_command

__all__ = ["main"]

_MODES = ("link", "parent")

_ENVIRONMENT_HELP = f"""\
environment (client commands):
  {URL_VARIABLE}        service URL (default {DEFAULT_URL}); --url overrides it
  {TOKEN_VARIABLE}  admin token; --token overrides it
  {DEPRECATED_TOKEN_VARIABLE}      deprecated fallback for the admin token (workers use it
                                 for their read token, which the CLI cannot change flags with)
`serve` reads its settings from HATCHET_TRACE_FLAGS_* variables too (docs/server.md).
"""


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# ------------------------------------------------------------------------ serve


_OURS = ("hatchet_trace_flags", "hatchet_trace_flags_server")
# What Ctrl-C ends with: the shell's convention for "stopped by SIGINT" (128 + 2).
_INTERRUPTED = 130


def _serve(arguments: argparse.Namespace) -> int:
    try:
        from hatchet_trace_flags_server.app.runner import serve
        from hatchet_trace_flags_server.core.settings import DatabaseURLError, Settings
        from hatchet_trace_flags_server.core.tokens import TokenConfigError
    except ModuleNotFoundError as missing:
        # The console script comes with the library; the service's dependencies are the `server` extra.
        if missing.name is None or missing.name.split(".")[0] in _OURS:
            raise
        raise _CommandError(
            f"`serve` runs the admin service, which needs the `server` extra (missing: {missing.name}). "
            "Install it with: pip install 'hatchet-trace-flags[server]'",
            exit_code=2,
        ) from None

    overrides: dict[str, Any] = {
        name: value
        for name in ("host", "port", "database_url", "data_dir")
        if (value := getattr(arguments, name)) is not None
    }
    try:
        settings = Settings(**overrides)
        settings.sqlalchemy_url()
        serve(settings)
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl-C, then raises the signal again for the exit status.
        return _INTERRUPTED
    except ValidationError as error:
        raise _CommandError(f"invalid settings:\n{error}", exit_code=2) from None
    except (DatabaseURLError, TokenConfigError) as error:
        raise _CommandError(str(error), exit_code=2) from None
    return 0


# ------------------------------------------------------------------------ client


def _tasks_list(client: _Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit, "offset": arguments.offset}
    if arguments.search:
        params["q"] = arguments.search
    if arguments.mode:
        params["mode"] = arguments.mode
    if arguments.configured is not None:
        params["configured"] = str(arguments.configured).lower()
    page = _fetch_page(client, "/api/v1/tasks", params, arguments.all)
    if client.as_json:
        _print_json(page)
        return
    _table(
        [
            (
                item["action_id"],
                item["effective_mode"],
                item["reason"],
                item["rule"],
                item["mode"],
                item["last_seen"],
            )
            for item in page["items"]
        ],
        ("ACTION_ID", "EFFECTIVE", "REASON", "RULE", "CONFIGURED", "LAST_SEEN"),
    )
    _page_footer(page)


def _show_rule(client: _Client, item: dict[str, Any], key_field: str) -> None:
    if client.as_json:
        _print_json(item)
        return
    mode = item["mode"] or "(not configured)"
    extra = f", effective {item['effective_mode']} ({item['reason']})" if "effective_mode" in item else ""
    print(f"{item[key_field]}: {mode}{extra}, version {item['version']}")


def _rule_set(kind: str, key_field: str) -> Callable[[_Client, argparse.Namespace], None]:
    def command(client: _Client, arguments: argparse.Namespace) -> None:
        body: dict[str, Any] = {"mode": arguments.mode}
        if arguments.note is not None:
            body["note"] = arguments.note
        item = client.request(
            "PUT", _key_path(kind, arguments.key), json=body, headers=_headers(arguments)
        ).json()
        _show_rule(client, item, key_field)

    return command


def _rule_clear(kind: str, key_field: str) -> Callable[[_Client, argparse.Namespace], None]:
    def command(client: _Client, arguments: argparse.Namespace) -> None:
        params = {"note": arguments.note} if arguments.note is not None else {}
        item = client.request(
            "DELETE", _key_path(kind, arguments.key), params=params, headers=_headers(arguments)
        ).json()
        _show_rule(client, item, key_field)

    return command


def _patterns_list(client: _Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit, "offset": arguments.offset}
    if arguments.search:
        params["q"] = arguments.search
    if arguments.mode:
        params["mode"] = arguments.mode
    page = _fetch_page(client, "/api/v1/patterns", params, arguments.all)
    if client.as_json:
        _print_json(page)
        return
    _table(
        [(item["pattern"], item["mode"], item["updated_by"], item["note"]) for item in page["items"]],
        ("PATTERN", "MODE", "UPDATED_BY", "NOTE"),
    )
    _page_footer(page)


def _show_settings(client: _Client, settings: dict[str, Any]) -> None:
    if client.as_json:
        _print_json(settings)
        return
    print(f"default: {settings['default']}")
    print(f"links_enabled: {str(settings['links_enabled']).lower()}")
    print(f"version: {settings['version']}")


def _settings_show(client: _Client, _arguments: argparse.Namespace) -> None:
    _show_settings(client, client.request("GET", "/api/v1/settings").json())


def _settings_set(client: _Client, arguments: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    if arguments.default is not None:
        body["default"] = arguments.default
    if arguments.links_enabled is not None:
        body["links_enabled"] = arguments.links_enabled
    if arguments.note is not None:
        body["note"] = arguments.note
    if not body:
        raise _CommandError("nothing to change: give --default and/or --links-enabled", exit_code=2)
    settings = client.request("PATCH", "/api/v1/settings", json=body, headers=_headers(arguments)).json()
    _show_settings(client, settings)


def _export(client: _Client, arguments: argparse.Namespace) -> None:
    response = client.request("GET", "/api/v1/export", params={"format": arguments.format})
    if arguments.output in (None, "-"):
        sys.stdout.write(response.text.rstrip("\n") + "\n")
    else:
        Path(arguments.output).write_bytes(response.content)
        print(f"wrote {arguments.output} (revision {response.headers.get(REVISION_HEADER)})")


def _audit(client: _Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit}
    for name in ("kind", "key", "actor"):
        if (value := getattr(arguments, name)) is not None:
            params[name] = value
    page = client.request("GET", "/api/v1/audit", params=params).json()
    if client.as_json:
        _print_json(page)
        return
    _table(
        [
            (item["revision"], item["at"], item["actor"], item["source"], item["kind"], item["key"])
            for item in page["items"]
        ],
        ("REVISION", "AT", "ACTOR", "SOURCE", "KIND", "KEY"),
    )


# ------------------------------------------------------------------------ parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hatchet-trace-flags",
        description="Per-task span-link flags for Hatchet: service and client.",
        epilog=_ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the admin service",
        description="Run the admin service (REST API, OFREP, change stream and dashboard) until Ctrl-C "
        "or SIGTERM. Needs the `server` extra: pip install 'hatchet-trace-flags[server]'. Every setting "
        "can also come from a HATCHET_TRACE_FLAGS_* variable (docs/server.md).",
    )
    serve.add_argument("--host", help="bind address (HATCHET_TRACE_FLAGS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (HATCHET_TRACE_FLAGS_PORT, default 8080)")
    serve.add_argument(
        "--database-url", help="sqlite:///PATH or postgresql://... (default: SQLite in data dir)"
    )
    serve.add_argument("--data-dir", type=Path, help="directory for flags.db (default ./data)")
    serve.set_defaults(handler=None)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--url", help=f"service URL ({URL_VARIABLE}, default {DEFAULT_URL})")
    client.add_argument("--token", help=f"admin token ({TOKEN_VARIABLE})")
    client.add_argument("--json", action="store_true", help="print the API's JSON")
    conditional = argparse.ArgumentParser(add_help=False)
    conditional.add_argument("--if-match", help="only if the current ETag is this one")
    conditional.add_argument("--note", help="why (shown in the audit log)")
    paging = argparse.ArgumentParser(add_help=False)
    paging.add_argument("--search", help="substring of the name")
    paging.add_argument("--mode", choices=_MODES, help="only this mode (tasks: the effective mode)")
    paging.add_argument("--limit", type=int, default=100, help=f"page size (up to {MAX_PAGE})")
    paging.add_argument("--offset", type=int, default=0, help="skip this many")
    paging.add_argument("--all", action="store_true", help="every page, not just one")

    for kind, key_field, key_help in (
        ("tasks", "action_id", "action_id, e.g. prod_fanout-worker:process-item"),
        ("patterns", "pattern", "pattern, e.g. fanout-worker:* or *:send-email"),
    ):
        group = commands.add_parser(kind, help=f"list, set or clear {kind}")
        actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        if kind == "tasks":
            tasks_actions = actions  # `tasks forget` and `tasks insights` join it below
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
            "mode", choices=_MODES, help="link: a new trace with a span link; parent: a child span"
        )
        setter.set_defaults(handler=_rule_set(kind, key_field))
        clearer = actions.add_parser("clear", parents=[client, conditional], help="remove the mode")
        clearer.add_argument("key", metavar=key_field.upper(), help=key_help)
        clearer.set_defaults(handler=_rule_clear(kind, key_field))

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
    setter.add_argument("--default", choices=_MODES, help="mode of tasks nothing else covers")
    setter.add_argument(
        "--links-enabled", type=_boolean, metavar="true|false", help="false: the kill switch, all parent"
    )
    setter.set_defaults(handler=_settings_set)

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
    importer.set_defaults(handler=_import)

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

    forget = tasks_actions.add_parser(
        "forget", parents=[client], help="forget discovered tasks (configured modes stay)"
    )
    forget.add_argument("action_ids", nargs="+", metavar="ACTION_ID", help="discovered tasks to forget")
    forget.set_defaults(handler=_tasks_forget)
    add_insights_command(tasks_actions, client)
    return parser


def _tasks_forget(client: _Client, arguments: argparse.Namespace) -> None:
    result = client.request("POST", "/api/v1/tasks/forget", json={"action_ids": arguments.action_ids}).json()
    if client.as_json:
        _print_json(result)
        return
    print(f"forgot {result['forgotten']} of {len(set(arguments.action_ids))} discovered tasks")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`tasks list | head`): nothing left to say. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "serve":
            return _serve(arguments)
        client = _Client(arguments)
        try:
            arguments.handler(client, arguments)
        finally:
            client.close()
    except _CommandError as error:
        print(f"hatchet-trace-flags: {error}", file=sys.stderr)
        return error.exit_code
    return 0

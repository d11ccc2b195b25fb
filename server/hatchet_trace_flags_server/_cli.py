"""``hatchet-trace-flags``: run the service, or manage it through its API.

    hatchet-trace-flags serve [--host H] [--port P] [--database-url URL] [--data-dir DIR]
    hatchet-trace-flags tasks list [--search TEXT] [--mode link|parent] [--configured|--unconfigured]
    hatchet-trace-flags tasks set ACTION_ID link|parent [--note TEXT]
    hatchet-trace-flags tasks clear ACTION_ID
    hatchet-trace-flags patterns list | set PATTERN MODE | clear PATTERN
    hatchet-trace-flags settings show | set [--default MODE] [--links-enabled true|false]
    hatchet-trace-flags export [--format native|flagd] [--output FILE]
    hatchet-trace-flags import FILE|- [--if-match ETAG]
    hatchet-trace-flags audit [--kind K] [--key KEY] [--actor NAME] [--limit N]

Client commands talk to ``--url`` (``HATCHET_TRACE_FLAGS_URL``, default http://127.0.0.1:8080) with
``--token`` (``HATCHET_TRACE_FLAGS_TOKEN``). ``--json`` prints the API's JSON as is. Exit status: 0
done, 1 the API refused or could not be reached, 2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:8080"
_MODES = ("link", "parent")


class _CommandError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# ------------------------------------------------------------------------ serve


def _serve(arguments: argparse.Namespace) -> int:
    from ._runner import serve
    from ._settings import DatabaseURLError, Settings
    from ._tokens import TokenConfigError

    overrides: dict[str, Any] = {
        name: value
        for name in ("host", "port", "database_url", "data_dir")
        if (value := getattr(arguments, name)) is not None
    }
    try:
        settings = Settings(**overrides)
        settings.sqlalchemy_url()
        serve(settings)
    except ValidationError as error:
        raise _CommandError(f"invalid settings:\n{error}", exit_code=2) from None
    except (DatabaseURLError, TokenConfigError) as error:
        raise _CommandError(str(error), exit_code=2) from None
    return 0


# ------------------------------------------------------------------------ client


class _Client:
    def __init__(self, arguments: argparse.Namespace) -> None:
        url = arguments.url or os.environ.get("HATCHET_TRACE_FLAGS_URL") or DEFAULT_URL
        token = arguments.token or os.environ.get("HATCHET_TRACE_FLAGS_TOKEN")
        if not token:
            raise _CommandError("no token: pass --token or set HATCHET_TRACE_FLAGS_TOKEN", exit_code=2)
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "X-Change-Source": "cli"},
            timeout=30.0,
        )
        self.as_json: bool = getattr(arguments, "json", False)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise _CommandError(f"cannot reach {self._http.base_url}: {error}") from None
        if response.status_code >= 400:
            try:
                detail: Any = response.json().get("detail", response.text)
            except (ValueError, AttributeError):
                detail = response.text
            if not isinstance(detail, str):
                detail = json.dumps(detail)
            raise _CommandError(f"{response.status_code}: {detail}")
        return response

    def close(self) -> None:
        self._http.close()


def _key_path(kind: str, key: str) -> str:
    return f"/api/v1/{kind}/{quote(key, safe=':*@')}"


def _headers(arguments: argparse.Namespace) -> dict[str, str]:
    if_match = getattr(arguments, "if_match", None)
    return {"If-Match": if_match} if if_match else {}


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str("-" if cell is None else cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _tasks_list(client: _Client, arguments: argparse.Namespace) -> None:
    params: dict[str, Any] = {"limit": arguments.limit, "offset": arguments.offset}
    if arguments.search:
        params["q"] = arguments.search
    if arguments.mode:
        params["mode"] = arguments.mode
    if arguments.configured is not None:
        params["configured"] = str(arguments.configured).lower()
    page = client.request("GET", "/api/v1/tasks", params=params).json()
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
    print(f"({len(page['items'])} of {page['total']})")


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
    page = client.request("GET", "/api/v1/patterns", params=params).json()
    if client.as_json:
        _print_json(page)
        return
    _table(
        [(item["pattern"], item["mode"], item["updated_by"], item["note"]) for item in page["items"]],
        ("PATTERN", "MODE", "UPDATED_BY", "NOTE"),
    )
    print(f"({len(page['items'])} of {page['total']})")


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
        print(f"wrote {arguments.output} (revision {response.headers.get('X-Rules-Revision')})")


def _import(client: _Client, arguments: argparse.Namespace) -> None:
    try:
        content = sys.stdin.buffer.read() if arguments.file == "-" else Path(arguments.file).read_bytes()
    except OSError as error:
        raise _CommandError(f"cannot read {arguments.file}: {error.strerror}", exit_code=2) from None
    params = {"note": arguments.note} if arguments.note is not None else {}
    result = client.request(
        "POST",
        "/api/v1/import",
        content=content,
        params=params,
        headers={"Content-Type": "application/json", **_headers(arguments)},
    ).json()
    if client.as_json:
        _print_json(result)
    elif result["changed"]:
        print(f"imported: revision {result['revision']}, ETag {result['etag']}")
    else:
        print(f"unchanged: the rule set already is that document (revision {result['revision']})")


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
        prog="hatchet-trace-flags", description="Per-task span-link flags for Hatchet: service and client."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the admin service")
    serve.add_argument("--host", help="bind address (HATCHET_TRACE_FLAGS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (HATCHET_TRACE_FLAGS_PORT, default 8080)")
    serve.add_argument(
        "--database-url", help="sqlite:///PATH or postgresql://... (default: SQLite in data dir)"
    )
    serve.add_argument("--data-dir", type=Path, help="directory for flags.db (default ./data)")
    serve.set_defaults(handler=None)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--url", help=f"service URL (HATCHET_TRACE_FLAGS_URL, default {DEFAULT_URL})")
    client.add_argument("--token", help="admin token (HATCHET_TRACE_FLAGS_TOKEN)")
    client.add_argument("--json", action="store_true", help="print the API's JSON")
    conditional = argparse.ArgumentParser(add_help=False)
    conditional.add_argument("--if-match", help="only if the current ETag is this one")
    conditional.add_argument("--note", help="why (shown in the audit log)")
    paging = argparse.ArgumentParser(add_help=False)
    paging.add_argument("--search", help="substring of the name")
    paging.add_argument("--mode", choices=_MODES)
    paging.add_argument("--limit", type=int, default=100)
    paging.add_argument("--offset", type=int, default=0)

    for kind, key_field, key_help in (
        ("tasks", "action_id", "action_id, e.g. prod_fanout-worker:process-item"),
        ("patterns", "pattern", "pattern, e.g. fanout-worker:* or *:send-email"),
    ):
        group = commands.add_parser(kind, help=f"list, set or clear {kind}")
        actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", parents=[client, paging], help=f"list {kind}")
        if kind == "tasks":
            listing.set_defaults(handler=_tasks_list, configured=None)
            listing.add_argument("--configured", dest="configured", action="store_true", default=None)
            listing.add_argument("--unconfigured", dest="configured", action="store_false")
        else:
            listing.set_defaults(handler=_patterns_list)
        setter = actions.add_parser("set", parents=[client, conditional], help="set the mode")
        setter.add_argument("key", metavar=key_field.upper(), help=key_help)
        setter.add_argument("mode", choices=_MODES)
        setter.set_defaults(handler=_rule_set(kind, key_field))
        clearer = actions.add_parser("clear", parents=[client, conditional], help="remove the mode")
        clearer.add_argument("key", metavar=key_field.upper(), help=key_help)
        clearer.set_defaults(handler=_rule_clear(kind, key_field))

    settings = commands.add_parser("settings", help="default mode and links kill switch")
    settings_actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    settings_actions.add_parser("show", parents=[client]).set_defaults(handler=_settings_show)
    setter = settings_actions.add_parser("set", parents=[client, conditional])
    setter.add_argument("--default", choices=_MODES)
    setter.add_argument("--links-enabled", type=_boolean, metavar="true|false")
    setter.set_defaults(handler=_settings_set)

    export = commands.add_parser("export", parents=[client], help="download the rule set")
    export.add_argument("--format", choices=("native", "flagd"), default="native")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(handler=_export)

    importer = commands.add_parser("import", parents=[client, conditional], help="replace the rule set")
    importer.add_argument("file", help="rules document (JSON), or - for stdin")
    importer.set_defaults(handler=_import)

    audit = commands.add_parser("audit", parents=[client], help="show the audit log")
    audit.add_argument("--kind", choices=("task", "pattern", "settings", "import"))
    audit.add_argument("--key")
    audit.add_argument("--actor")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(handler=_audit)

    # `tasks forget`: added to the `tasks` group built above (its subparsers are the last `actions`
    # of the loop only for patterns, so look the group up by name).
    tasks_actions = next(
        action
        for action in commands.choices["tasks"]._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    forget = tasks_actions.add_parser(
        "forget", parents=[client], help="forget discovered tasks (configured modes stay)"
    )
    forget.add_argument("action_ids", nargs="+", metavar="ACTION_ID")
    forget.set_defaults(handler=_tasks_forget)
    return parser


def _tasks_forget(client: _Client, arguments: argparse.Namespace) -> None:
    result = client.request("POST", "/api/v1/tasks/forget", json={"action_ids": arguments.action_ids}).json()
    if client.as_json:
        _print_json(result)
        return
    print(f"forgot {result['forgotten']} of {len(set(arguments.action_ids))} discovered tasks")


def main(argv: Sequence[str] | None = None) -> int:
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

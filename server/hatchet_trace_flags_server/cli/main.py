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
    hatchet-trace-flags workers list [--limit N]

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
from collections.abc import Sequence

from .audit import add_audit_command
from .client import DEFAULT_URL, DEPRECATED_TOKEN_VARIABLE, TOKEN_VARIABLE, URL_VARIABLE, Client, CommandError
from .insights import add_insights_command
from .rules import add_rule_commands
from .serve import add_serve_command, serve_command
from .settings import add_settings_command
from .transfer import add_transfer_commands
from .workers import add_workers_command

__all__ = ["main"]

_ENVIRONMENT_HELP = f"""\
environment (client commands):
  {URL_VARIABLE}        service URL (default {DEFAULT_URL}); --url overrides it
  {TOKEN_VARIABLE}  admin token; --token overrides it
  {DEPRECATED_TOKEN_VARIABLE}      deprecated fallback for the admin token (workers use it
                                 for their read token, which the CLI cannot change flags with)
`serve` reads its settings from HATCHET_TRACE_FLAGS_* variables too (docs/server.md).
"""


# ------------------------------------------------------------------------ parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hatchet-trace-flags",
        description="Per-task span-link flags for Hatchet: service and client.",
        epilog=_ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_command(commands)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--url", help=f"service URL ({URL_VARIABLE}, default {DEFAULT_URL})")
    client.add_argument("--token", help=f"admin token ({TOKEN_VARIABLE})")
    client.add_argument("--json", action="store_true", help="print the API's JSON")
    conditional = argparse.ArgumentParser(add_help=False)
    conditional.add_argument("--if-match", help="only if the current ETag is this one")
    conditional.add_argument("--note", help="why (shown in the audit log)")

    tasks_actions = add_rule_commands(commands, client, conditional)
    add_settings_command(commands, client, conditional)
    add_transfer_commands(commands, client, conditional)
    add_audit_command(commands, client)
    add_insights_command(tasks_actions, client)
    add_workers_command(commands, client)
    return parser


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
            return serve_command(arguments)
        client = Client(arguments)
        try:
            arguments.handler(client, arguments)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            # An answer of a shape the command did not expect (another service or version, a
            # proxy's page): one clear line, never a traceback (issue 27).
            raise CommandError(
                f"unexpected answer from {client.base_url}: {type(error).__name__}: {error}"
            ) from None
        finally:
            client.close()
    except CommandError as error:
        print(f"hatchet-trace-flags: {error}", file=sys.stderr)
        return error.exit_code
    return 0

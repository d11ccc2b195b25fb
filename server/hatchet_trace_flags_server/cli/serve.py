"""``hatchet-trace-flags serve``: run the admin service in this process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .client import CommandError

__all__ = ["add_serve_command", "serve_command"]

_OURS = ("hatchet_trace_flags", "hatchet_trace_flags_server")
# What Ctrl-C ends with: the shell's convention for "stopped by SIGINT" (128 + 2).
_INTERRUPTED = 130


def add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def serve_command(arguments: argparse.Namespace) -> int:
    try:
        from hatchet_trace_flags_server.app.runner import serve
        from hatchet_trace_flags_server.core.settings import DatabaseURLError, Settings
        from hatchet_trace_flags_server.core.tokens import TokenConfigError
    except ModuleNotFoundError as missing:
        # The console script comes with the library; the service's dependencies are the `server` extra.
        if missing.name is None or missing.name.split(".")[0] in _OURS:
            raise
        raise CommandError(
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
        raise CommandError(f"invalid settings:\n{error}", exit_code=2) from None
    except (DatabaseURLError, TokenConfigError) as error:
        raise CommandError(str(error), exit_code=2) from None
    return 0

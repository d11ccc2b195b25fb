"""Running the app under uvicorn (one process per replica)."""

from __future__ import annotations

import copy
import gc
import signal
import socket
from typing import Any, Final

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from hatchet_trace_flags_server.core.settings import Settings
from hatchet_trace_flags_server.http.access_log import install_redaction
from hatchet_trace_flags_server.http.app_state import Services, state_of

from .factory import create_app

__all__ = ["FlagServer", "build_server", "serve"]

# Allocations between two young collections (CPython's default: 700). A change reaching 2,000
# change streams allocates some 30,000 objects: at 700 that is about 40 collections in the middle of
# the fan-out, each of them also walking whatever the streams keep alive (issue 23).
_YOUNG_COLLECTION_THRESHOLD: Final = 20_000


class FlagServer(uvicorn.Server):
    """Ends the open change streams first when shutting down; uvicorn would otherwise wait for
    those never-ending responses before it runs the app's shutdown."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._services: Services = state_of(app).services

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._services.feed.close_streams()
        await super().shutdown(sockets)


def _log_config(level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["hatchet_trace_flags_server"] = {
        "handlers": ["default"],
        "level": level.upper() if level != "trace" else "DEBUG",
        "propagate": False,
    }
    return config


def build_server(settings: Settings, app: FastAPI | None = None, **config: Any) -> FlagServer:
    app = app if app is not None else create_app(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": _log_config(settings.log_level),
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_concurrency or None,
        # X-Forwarded-* are read by the app (http/forwarded.py): uvicorn trusts the left-most,
        # client-written X-Forwarded-For entry under forwarded_allow_ips="*".
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
        "ws": "none",  # no WebSocket routes; also keeps the websockets package from being imported
    }
    options.update(config)
    server = FlagServer(uvicorn.Config(app, **options), app)
    install_redaction()  # after uvicorn.Config, which (re)configures logging
    return server


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM."""
    server = build_server(settings)
    _tune_garbage_collector()
    _stop_ignoring_sigint()
    server.run()


def _stop_ignoring_sigint() -> None:
    """uvicorn stops on SIGINT even in a process started with it ignored (a shell script's background job
    is), then restores the handler it found and raises the signal again, so that ``serve`` exits with 130.
    With ``SIG_IGN`` restored, that second signal is lost and the exit status is 0: take SIGINT back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _tune_garbage_collector() -> None:
    """For this process only (never for an app embedded elsewhere): the objects of the imported
    libraries (about 150,000) go to the permanent generation, where full collections no longer walk
    them, and young collections run less often (CPython's docs on ``gc.freeze``)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_THRESHOLD, middle, old)

"""Fixtures for AdminServiceProvider: the real admin service in process (uvicorn, SQLite), a stub that
misbehaves on purpose, and a provider factory with short intervals that cleans up after itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from openfeature import api
from openfeature.event import EventDetails, ProviderEvent

from hatchet_trace_flags import AdminServiceProvider
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from tests.support.flags.admin_stub import StubServer
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from fastapi import FastAPI
    from hatchet_trace_flags_server import Settings
    from hatchet_trace_flags_server.app.runner import FlagServer

ADMIN_TOKEN = "provider-admin-secret-0123456789"
READ_TOKEN = "provider-read-secret-0123456789"
OTHER_READ_TOKEN = "provider-other-read-secret-0123456789"


def admin_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("hatchet-trace-flags-admin")]


# -- the real service, in process --------------------------------------------------------------------------


@dataclass
class Service:
    """A running admin service; ``restart`` brings it back on the same port with the same data."""

    settings: Settings
    port: int
    app: FastAPI | None = None
    server: FlagServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        # Imported here: the stub-based tests also run in the lowest-versions venv, which has no server extra.
        from hatchet_trace_flags_server import create_app
        from hatchet_trace_flags_server.app.runner import build_server

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self.app = create_app(self.settings)
        server = self.server = build_server(self.settings, self.app, log_config=None, access_log=False)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[listener]))
            except BaseException as error:
                failure.append(error)
            finally:
                listener.close()

        self.thread = threading.Thread(target=run, name=f"admin-service-{self.port}", daemon=True)
        self.thread.start()
        wait_until(
            lambda: server.started or failure or not self.thread.is_alive(), what="the admin service started"
        )
        if failure or not server.started:
            raise RuntimeError(f"the admin service failed to start: {failure!r}")
        return self

    def stop(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            assert self.server is not None
            self.server.should_exit = True
            self.thread.join(30)
            assert not self.thread.is_alive(), "the admin service did not stop"

    def restart(self, **changes: Any) -> Service:
        self.stop()
        if changes:
            self.settings = self.settings.model_copy(update=changes)
        return self.start()

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)

    def set_task(self, action_id: str, mode: str | None) -> int:
        """Set (or clear) a task's mode through the API; returns the new rules revision."""
        with self.admin() as admin:
            if mode is None:
                response = admin.delete(f"/api/v1/tasks/{action_id}")
            else:
                response = admin.put(f"/api/v1/tasks/{action_id}", json={"mode": mode})
            assert response.status_code == 200, response.text
            return int(admin.get("/api/v1/snapshot").headers["x-rules-revision"])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    try:
        from hatchet_trace_flags_server import Settings
    except ImportError as error:  # the lowest-versions venv has no server extra
        pytest.skip(f"needs the server extra: {error}")
    settings = Settings(
        data_dir=tmp_path / "service",
        admin_tokens=f"alice:{ADMIN_TOKEN}",
        read_tokens=f"worker:{READ_TOKEN},other:{OTHER_READ_TOKEN}",
        log_level="warning",
        resync_seconds=5.0,
    )
    running = Service(settings, port=0).start()
    yield running
    running.stop()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


# -- providers ---------------------------------------------------------------------------------------------

ProviderFactory = Callable[..., AdminServiceProvider]


@pytest.fixture(autouse=True)
def clean_openfeature() -> Iterator[None]:
    """No provider before a test; none of our threads after it."""
    api.clear_providers()
    yield
    api.clear_providers()
    wait_until(lambda: not admin_threads(), what=lambda: admin_threads())


@pytest.fixture
def make_provider(tmp_path: Path) -> Iterator[ProviderFactory]:
    """AdminServiceProvider with test-sized intervals and a snapshot file in tmp_path; shut down after."""
    made: list[AdminServiceProvider] = []

    def make(url: str, token: str | None = READ_TOKEN, **options: Any) -> AdminServiceProvider:
        values: dict[str, Any] = {
            "snapshot_file": tmp_path / "worker" / "snapshot.json",
            "poll_interval": 0.2,
            "resync_interval": 0.2,
            "timeout": 2.0,
            "startup_timeout": 2.0,
            "backoff_initial": 0.05,
            "backoff_max": 0.2,
            "refused_retry_initial": 0.1,
            "refused_retry_max": 0.4,
            "report_interval": 0.05,
            "worker_name": "test-worker",
        }
        values.update(options)
        provider = AdminServiceProvider(url, token, **values)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()


@dataclass
class EventLog:
    """Provider events seen through the OpenFeature client of our domain."""

    events: list[tuple[ProviderEvent, EventDetails]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kinds(self) -> list[ProviderEvent]:
        with self.lock:
            return [kind for kind, _ in self.events]

    def of(self, kind: ProviderEvent) -> list[EventDetails]:
        with self.lock:
            return [details for seen, details in self.events if seen is kind]


@pytest.fixture
def provider_events() -> Iterator[EventLog]:
    log = EventLog()
    client = api.get_client(OPENFEATURE_DOMAIN)
    handlers = []
    for kind in (
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ):

        def record(details: EventDetails, kind: ProviderEvent = kind) -> None:
            with log.lock:
                log.events.append((kind, details))

        client.add_handler(kind, record)
        handlers.append((kind, record))
    yield log
    for kind, handler in handlers:
        with contextlib.suppress(ValueError):  # already gone with api.clear_providers()
            client.remove_handler(kind, handler)


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="hatchet_trace_flags")
    return caplog

"""Fixtures for the admin service: one real server per test, on SQLite and on PostgreSQL.

``backend`` is parametrized over both databases; every test that uses ``live`` or ``client`` runs
twice. PostgreSQL tests share one throw-away database per test session (created here, dropped at
the end) and get an empty schema per test. The server is real uvicorn on 127.0.0.1, in a thread
with its own event loop, so sync clients (requests, the OFREP provider, schemathesis) work too.

A server whose test is over stops in the background: uvicorn notices ``should_exit`` on its next
0.1 s tick and then waits 0.1 s more, about a sixth of the suite's time when every test waited for
it. Only servers nothing else will touch are left to stop on their own: SQLite in the test's own
directory, or the session's PostgreSQL database, which no test gets (``postgres_url``) before those
servers have stopped. A server a test stops itself (``LiveServer.stop``) has stopped when it returns.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from hatchet_trace_flags_server import Settings, create_app
from hatchet_trace_flags_server.app.runner import FlagServer, build_server

from tests.support.waiting import wait_until

ADMIN_TOKEN = "alice-admin-secret-0123456789"
SECOND_ADMIN_TOKEN = "bob-admin-secret-0123456789"
READ_TOKEN = "worker-read-secret-0123456789"
ADMIN_TOKENS = f"alice:{ADMIN_TOKEN},bob:{SECOND_ADMIN_TOKEN}"
READ_TOKENS = f"worker:{READ_TOKEN}"

POSTGRES_ADMIN_URL = os.environ.get(
    "HATCHET_TRACE_FLAGS_TEST_POSTGRES_URL", f"postgresql://{getpass.getuser()}@127.0.0.1:5432/test"
)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database for this test session (name carries its creation time for clean-up)."""
    name = f"htf_test_{int(time.time())}_{secrets.token_hex(4)}"

    async def run(statement: str) -> None:
        try:
            connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        except (OSError, asyncpg.PostgresError) as error:
            pytest.fail(
                f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({error}); "
                "run `bash scripts/test-services` first"
            )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    _shared_databases.add(url)
    yield url
    _wait_for_stopping_servers()
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's database, once no server of an earlier test uses it any more."""
    _wait_for_stopping_servers(postgres_database)
    return postgres_database


async def reset_postgres(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` for SQLite (the default file in the data dir), else a freshly emptied database."""
    if backend == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(reset_postgres(url))
    return url


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(database_url: str | None, tmp_path: Path) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "admin_tokens": ADMIN_TOKENS,
            "read_tokens": READ_TOKENS,
            "log_level": "warning",
            "resync_seconds": 5.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@dataclass
class LiveServer:
    """A running server: ``url``, the ``app`` and a way to stop it early."""

    url: str
    app: FastAPI
    server: FlagServer
    thread: threading.Thread
    database_url: str | None

    def stop(self) -> None:
        self.server.should_exit = True
        self.wait_stopped()

    def wait_stopped(self) -> None:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), f"the server at {self.url} ({self.thread.name}) did not stop"


# Session PostgreSQL databases (see ``postgres_database``) and the servers of finished tests still stopping.
_shared_databases: set[str] = set()
_stopping: list[LiveServer] = []
# Enough to cover the next test or two; a long run of short tests waits for the oldest instead of piling
# up servers (each holds its app until its thread ends).
_MAX_STOPPING = 4


def _stop_in_background(live: LiveServer) -> None:
    live.server.should_exit = True
    _stopping[:] = [other for other in _stopping if other.thread.is_alive()]
    _stopping.append(live)
    while len(_stopping) > _MAX_STOPPING:
        _stopping.pop(0).wait_stopped()  # out of the list first: one that hangs fails one test, not all


def _wait_for_stopping_servers(database_url: str | None = None) -> None:
    """Every server of a finished test has stopped, or (given a URL) every one using that database."""
    waited = [live for live in _stopping if database_url is None or live.database_url == database_url]
    _stopping[:] = [live for live in _stopping if live not in waited]
    for live in waited:
        live.wait_stopped()


@pytest.fixture(scope="session", autouse=True)
def live_servers_stopped_at_the_end() -> Iterator[None]:
    yield
    _wait_for_stopping_servers()


def start_live_server(settings: Settings, app: FastAPI | None = None, **options: Any) -> LiveServer:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    app = app if app is not None else create_app(settings)
    server = build_server(settings, app, **{"log_config": None, "access_log": False, **options})
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[listener]))
        except BaseException as error:  # surfaced to the test below
            failure.append(error)
        finally:
            listener.close()

    thread = threading.Thread(target=run, name=f"live-server-{port}", daemon=True)
    thread.start()
    wait_until(lambda: server.started or failure or not thread.is_alive(), what="the live server starts")
    if failure or not server.started:
        raise RuntimeError(f"server failed to start: {failure!r}")
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread, settings.database_url)


LiveFactory = Callable[..., LiveServer]


@pytest.fixture
def live_factory() -> Iterator[LiveFactory]:
    started: list[LiveServer] = []

    def start(settings: Settings, app: FastAPI | None = None, **options: Any) -> LiveServer:
        live = start_live_server(settings, app, **options)
        started.append(live)
        return live

    yield start
    # Every server is told to stop before any is waited for: one that hangs leaves none running.
    for live in started:
        live.server.should_exit = True
    for live in reversed(started):
        if live.database_url is None or live.database_url in _shared_databases:
            _stop_in_background(live)
        else:  # another test may stop or reuse that database (a private cluster, say) right away
            live.wait_stopped()


@pytest.fixture
def live(live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory) -> LiveServer:
    return live_factory(make_settings())


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """Admin client (alice)."""
    async with httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        yield http


@pytest.fixture
async def reader(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """Read-scope client (a worker)."""
    async with httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN), timeout=30) as http:
        yield http

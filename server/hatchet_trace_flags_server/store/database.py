"""Database engine set-up (SQLite or PostgreSQL) and schema migrations at start-up."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .schema import store_identity

__all__ = ["MIGRATIONS_DIR", "NOTIFY_CHANNEL", "Database", "chunks"]

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
# Every rule change NOTIFYs this channel on PostgreSQL when it commits; each replica LISTENs on it.
NOTIFY_CHANNEL: Final = "hatchet_trace_flags_changes"
# pg_advisory_xact_lock key shared by every replica: "htflags" in ASCII.
_MIGRATION_LOCK_KEY: Final = 0x6874666C616773
# /readyz must answer quickly even when the database hangs (a probe has its own short timeout).
_READINESS_TIMEOUT_SECONDS: Final = 0.8
_WRITE_OPTION: Final = "hatchet_trace_flags_write"
_ALEMBIC_LOCK: Final = threading.Lock()

# How long a process starting on a SQLite file waits for another one's migrations.
_MIGRATION_LOCK_WAIT_SECONDS: Final = 120.0

logger = logging.getLogger("hatchet_trace_flags_server")

_T = TypeVar("_T")


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class Database:
    """One async engine per process. ``writer`` is the same pool, but on SQLite its transactions
    start with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing half-way."""

    def __init__(self, url: URL, *, timeout_seconds: float = 2.0) -> None:
        self.url = url
        self.is_postgres = url.get_backend_name() == "postgresql"
        self.timeout_seconds = timeout_seconds
        # This database's identity (migration 0003), known once migrate() ran.
        self.store_id: str | None = None
        # Waiting for a pooled connection is bounded too: a stuck database holds all of them.
        options: dict[str, Any] = {"pool_timeout": timeout_seconds}
        if self.is_postgres:
            # asyncpg parses libpq-style DSNs itself (sslmode, sslrootcert, ...); SQLAlchemy would
            # pass each query parameter on as a keyword asyncpg does not take.
            dsn = self.listen_dsn()
            # No pre-ping: on a frozen server it would cost a whole timeout before the statement's
            # own. A connection found dead fails its request with a 503 and SQLAlchemy then
            # replaces every pooled connection of that age.
            options["async_creator"] = lambda: self.connect_postgres(dsn)
        elif url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if not self.is_postgres:
            _configure_sqlite(self.engine, busy_timeout_ms=int(timeout_seconds * 1000))
        self.writer: AsyncEngine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self.head_revision = ScriptDirectory.from_config(_alembic_config()).get_current_head()

    @property
    def backend(self) -> str:
        return "postgresql" if self.is_postgres else "sqlite"

    async def migrate(self) -> None:
        """Bring the schema to head. Replicas starting together take turns on PostgreSQL."""
        # Alembic's `context`/`op` are process-wide proxies: two migrations interleaved in one
        # process (tests, several apps) would run each other's operations.
        await asyncio.to_thread(_ALEMBIC_LOCK.acquire)
        try:
            await self._migrate()
        finally:
            _ALEMBIC_LOCK.release()

    async def _migrate(self) -> None:
        if not self.is_postgres:
            # Its own connection too: processes starting together on one file queue on SQLite's write
            # lock for as long as the first one's migrations take, not for a request's timeout.
            engine = create_async_engine(self.url, poolclass=NullPool)
            _configure_sqlite(engine, busy_timeout_ms=int(_MIGRATION_LOCK_WAIT_SECONDS * 1000))
            try:
                await self._migrate_with(engine.execution_options(**{_WRITE_OPTION: True}))
            finally:
                await engine.dispose()
            return
        # Migrations may take long (an index on a big table) and may wait for another replica's:
        # their own connection, without the statement and lock timeouts of request traffic.
        dsn = self.listen_dsn()
        engine = create_async_engine(
            self.url,
            poolclass=NullPool,
            async_creator=lambda: asyncpg.connect(dsn, timeout=self.timeout_seconds),
        )
        try:
            await self._migrate_with(engine)
        finally:
            await engine.dispose()

    async def _migrate_with(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            if self.is_postgres:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            before = await connection.run_sync(_current_revision)
            await connection.run_sync(_upgrade_to_head)
            self.store_id = (
                await connection.execute(sa.select(store_identity.c.store_id).where(store_identity.c.id == 1))
            ).scalar_one()
            await connection.commit()
        if before is None:
            # A new, empty rule set: right on a first install, a silent disaster when a relative
            # data dir or a wrong DATABASE_URL points a restarted service at nothing.
            logger.warning(
                "created a new, empty rule store at %s (store id %s); if this service had rules "
                "before, it is now pointed at the wrong database",
                self.location,
                self.store_id,
            )

    @property
    def location(self) -> str:
        """Where the data lives: the SQLite file's absolute path, or the PostgreSQL URL without
        its password."""
        if not self.is_postgres:
            return str(Path(self.url.database or "").resolve())
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)

    @asynccontextmanager
    async def connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A pooled connection. Connecting and each statement are bounded by ``timeout_seconds``
        (the driver's own timeouts: cancelling SQLAlchemy half-way would leak the connection)."""
        async with (self.writer if write else self.engine).connect() as connection:
            yield connection

    @asynccontextmanager
    async def _queued(self, lock: asyncio.Lock | None) -> AsyncIterator[None]:
        """On SQLite writers queue on ``lock`` (for a bounded time) before they ask for the database's."""
        if lock is None:
            yield
            return
        async with asyncio.timeout(self.timeout_seconds):
            await lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @asynccontextmanager
    async def write_transaction(self, lock: asyncio.Lock | None) -> AsyncIterator[AsyncConnection]:
        """A write transaction; on SQLite writers queue on ``lock`` first, for a bounded time too."""
        async with self._queued(lock), self.connect(write=True) as connection, connection.begin():
            yield connection

    async def write_derived(
        self, work: Callable[[sqlite3.Connection], _T], lock: asyncio.Lock | None
    ) -> tuple[_T, float]:
        """SQLite: run ``work`` in a write transaction for data the service can derive again (the
        stored modes); its result and how long the transaction held the write lock.

        It runs on a private connection in a worker thread, from ``BEGIN IMMEDIATE`` to ``COMMIT``:
        through the pool each statement's answer waits for this process's event loop, and behind busy
        request handlers the lock was held for those waits (hundreds of ms), not for the work. Its
        commit does not sync the log (``synchronous=NORMAL``: a power cut may lose the last batches,
        which are derived again because their completion is recorded later, by a synced commit that
        also syncs them) and checkpoints after the lock is released rather than inside the commit."""
        async with self._queued(lock):
            return await asyncio.to_thread(_write_derived, str(self.url.database), self.timeout_seconds, work)

    async def connect_postgres(self, dsn: str) -> Any:
        """An asyncpg connection whose connect and every statement are bounded: a stopped or frozen
        server costs a request ``timeout_seconds``, not the kernel's TCP timeouts."""
        milliseconds = str(int(self.timeout_seconds * 1000))
        # A statement that times out costs a second round trip (SQLAlchemy's rollback), which a
        # frozen server does not answer either: each round trip gets half the bound.
        round_trip = self.timeout_seconds / 2
        return await asyncpg.connect(
            dsn,
            timeout=round_trip,
            command_timeout=round_trip,
            # The server's own bounds, for what the client-side timeout cannot see (lock waits).
            server_settings={"statement_timeout": milliseconds, "lock_timeout": milliseconds},
        )

    async def readiness_problem(self) -> str | None:
        """``None`` when the database answers and its schema is at head, else what is wrong."""
        try:
            async with asyncio.timeout(_READINESS_TIMEOUT_SECONDS), self.connect() as connection:
                current = await connection.run_sync(_current_revision)
        except TimeoutError:
            return f"database did not answer within {_READINESS_TIMEOUT_SECONDS} s"
        except Exception as error:
            return f"database unreachable: {type(error).__name__}"
        if current != self.head_revision:
            return f"schema at {current}, expected {self.head_revision}"
        return None

    def listen_dsn(self) -> str:
        """A plain ``postgresql://`` DSN for the dedicated LISTEN connection (asyncpg)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _write_derived(
    path: str, busy_timeout_seconds: float, work: Callable[[sqlite3.Connection], _T]
) -> tuple[_T, float]:
    connection = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")  # run below, once the lock is released
        connection.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for the lock, then holds it
        started = time.perf_counter()
        result = work(connection)  # if it fails, close() below rolls the transaction back
        connection.execute("COMMIT")
        held = time.perf_counter() - started
        # What SQLite's automatic checkpoint would have done inside COMMIT. PASSIVE: it neither waits
        # for nor blocks readers and writers.
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return result, held
    finally:
        connection.close()


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: an acknowledged change survives a power cut, not only a process restart.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    """``items`` in slices of ``size``: statements with many values stay under the drivers' bind
    limits (SQLite allows 32,766 parameters, asyncpg 32,767)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]

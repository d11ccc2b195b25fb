"""Database engine set-up (SQLite or PostgreSQL) and schema migrations at start-up."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["MIGRATIONS_DIR", "Database"]

MIGRATIONS_DIR: Final = Path(__file__).parent / "_migrations"
# pg_advisory_xact_lock key shared by every replica: "htflags" in ASCII.
_MIGRATION_LOCK_KEY: Final = 0x6874666C616773
_SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
_WRITE_OPTION: Final = "hatchet_trace_flags_write"
_ALEMBIC_LOCK: Final = threading.Lock()


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

    def __init__(self, url: URL) -> None:
        self.url = url
        self.is_postgres = url.get_backend_name() == "postgresql"
        options: dict[str, Any] = {}
        if self.is_postgres:
            # asyncpg parses libpq-style DSNs itself (sslmode, sslrootcert, ...); SQLAlchemy would
            # pass each query parameter on as a keyword asyncpg does not take.
            dsn = self.listen_dsn()
            options = {"pool_pre_ping": True, "async_creator": lambda: asyncpg.connect(dsn)}
        elif url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if not self.is_postgres:
            _configure_sqlite(self.engine)
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
        async with self.writer.connect() as connection:
            if self.is_postgres:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_to_head)
            await connection.commit()

    async def readiness_problem(self) -> str | None:
        """``None`` when the database answers and its schema is at head, else what is wrong."""
        try:
            async with self.engine.connect() as connection:
                current = await connection.run_sync(_current_revision)
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


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: an acknowledged change survives a power cut, not only a process restart.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

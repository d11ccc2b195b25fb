"""What a discovered task costs on disk, by the length of its name (issue 27): rows are recorded the way
reports record them (``SeenStore.record``: the row, its reversed name, every index, SQLite's FTS5
trigram table or PostgreSQL's trigram index), and the growth of the database is divided by the rows.

Run: ``python -m benchmarks discovered_storage`` (``DISCOVERED_STORAGE_ROWS``, default 2,000 rows per
name length; PostgreSQL from ``HATCHET_TRACE_FLAGS_TEST_POSTGRES_URL`` or the local default, skipped
when it cannot be reached).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import sqlite3
import tempfile
from pathlib import Path

import asyncpg
from hatchet_trace_flags_server.core.settings import normalise_database_url
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.seen_tasks import SeenStore
from sqlalchemy.engine import make_url

ROWS = int(os.environ.get("DISCOVERED_STORAGE_ROWS", "2000"))
# (action_id length, worker name length): workers name themselves "{hostname}/{pid}" unless configured.
CASES = ((24, 18), (64, 18), (255, 18), (24, 255), (255, 255))
POSTGRES_ADMIN_URL = os.environ.get(
    "HATCHET_TRACE_FLAGS_TEST_POSTGRES_URL", f"postgresql://{getpass.getuser()}@127.0.0.1:5432/test"
)


def _names(length: int, count: int) -> list[str]:
    # Distinct, realistic-looking: "wf-<random>:" then filler to the length (trigrams vary per row).
    names = []
    for _ in range(count):
        stem = f"wf-{secrets.token_hex(6)}:"
        filler = (secrets.token_hex(length) + "-task")[: length - len(stem)]
        names.append(stem + filler)
    return names


async def _record(database: Database, names: list[str], worker_length: int) -> None:
    store = SeenStore(database, None)
    worker = ("worker-host-1/4711" + "w" * worker_length)[:worker_length]
    for start in range(0, len(names), 1000):
        await store.record(worker, names[start : start + 1000], cap=len(names))


def _sqlite_bytes(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
    finally:
        connection.close()
    return path.stat().st_size


async def _sqlite(length: int, worker_length: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "flags.db"
        database = Database(normalise_database_url(f"sqlite:///{path}"))
        await database.migrate()
        await database.dispose()
        empty = _sqlite_bytes(path)
        database = Database(normalise_database_url(f"sqlite:///{path}"))
        await _record(database, _names(length, ROWS), worker_length)
        await database.dispose()
        return (_sqlite_bytes(path) - empty) / ROWS


async def _postgres(length: int, worker_length: int) -> float | None:
    name = f"htf_storage_{secrets.token_hex(4)}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = str(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    try:
        database = Database(normalise_database_url(url))
        await database.migrate()
        size = "SELECT pg_database_size(current_database())"
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM")
            empty = await connection.fetchval(size)
            await _record(database, _names(length, ROWS), worker_length)
            await connection.execute("VACUUM ANALYZE")
            full = await connection.fetchval(size)
        finally:
            await connection.close()
        await database.dispose()
        return (full - empty) / ROWS
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run() -> None:
    print(f"{ROWS:,} discovered tasks per name length; bytes per task (growth of the database / rows)")
    print(f"{'action_id':>10} {'worker':>7} {'SQLite':>8} {'PostgreSQL':>11}")
    for length, worker_length in CASES:
        on_sqlite = await _sqlite(length, worker_length)
        on_postgres = await _postgres(length, worker_length)
        postgres_text = f"{on_postgres:,.0f}" if on_postgres is not None else "unreachable"
        print(f"{length:>10} {worker_length:>7} {on_sqlite:>8,.0f} {postgres_text:>11}", flush=True)


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()

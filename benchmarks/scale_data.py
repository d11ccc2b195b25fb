"""Fills large admin-service databases fast, straight in SQL: N discovered tasks, M configured
tasks and a few patterns, on SQLite (executemany in one transaction) or PostgreSQL
(generate_series). The schema must exist: the service creates it (its migrations) when it starts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

__all__ = ["PATTERNS", "action_id", "fill"]

NAMESPACES = 20
WORKFLOWS = 500
# A realistic handful: prefix rules for a few workflows, suffix rules for a few task names.
PATTERNS = {
    **{f"ns{n}_wf{n * 7}:*": "link" for n in range(10)},
    **{f"ns{n}_*": "parent" for n in range(3)},
    "*:task-7": "link",
    "*:send-email": "parent",
}
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def action_id(index: int) -> str:
    """Spread over namespaces and workflows like real ones: ``ns3_wf42:task-123456``."""
    return f"ns{index % NAMESPACES}_wf{index % WORKFLOWS}:task-{index}"


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_SQLITE_FORMAT)


def fill(target: Path | str, *, discovered: int, configured: int) -> float:
    """Fills a SQLite file (a path) or a PostgreSQL database (a DSN) with empty tables; returns the
    seconds it took. ``configured`` counts patterns too: a rule set holds at most 10,000 entries."""
    started = time.perf_counter()
    configured -= len(PATTERNS)
    if isinstance(target, Path):
        _fill_sqlite(target, discovered, configured)
    else:
        asyncio.run(_fill_postgres(target, discovered, configured))
    return time.perf_counter() - started


def _fill_sqlite(path: Path, discovered: int, configured: int) -> None:
    now = datetime.now(UTC)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        with connection:
            connection.executemany(
                "INSERT INTO seen_tasks (action_id, action_id_reversed, first_seen, last_seen, last_worker) "
                "VALUES (?, ?, ?, ?, ?)",
                # In key order: appending to the primary key's B-tree is several times faster.
                sorted(
                    (
                        action_id(index),
                        action_id(index)[::-1],
                        _sqlite_time(now - timedelta(days=2)),
                        _sqlite_time(now - timedelta(seconds=index % 86_400)),
                        f"worker-{index % 64}",
                    )
                    for index in range(discovered)
                ),
            )
            # Configured tasks: half of them also discovered, half not (yet).
            connection.executemany(
                "INSERT INTO task_rules (action_id, mode, note, version, updated_at, updated_by) "
                "VALUES (?, ?, NULL, 1, ?, 'bench')",
                (
                    (
                        action_id(index * 2 if index % 2 else discovered + index),
                        "link" if index % 3 else "parent",
                        _sqlite_time(now - timedelta(seconds=index)),
                    )
                    for index in range(configured)
                ),
            )
            connection.executemany(
                "INSERT INTO pattern_rules (pattern, mode, note, version, updated_at, updated_by) "
                "VALUES (?, ?, NULL, 1, ?, 'bench')",
                ((pattern, mode, _sqlite_time(now)) for pattern, mode in PATTERNS.items()),
            )
            connection.execute("UPDATE rule_state SET revision = 1")
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _fill_postgres(url: str, discovered: int, configured: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        # The trigram index takes new rows one by one (fastupdate off, migration 0006): for the bulk
        # insert let them collect in its pending list, which VACUUM below merges in one pass.
        await connection.execute(
            "ALTER INDEX IF EXISTS ix_seen_tasks_search "
            "SET (fastupdate = on, gin_pending_list_limit = 2097151)"
        )
        async with connection.transaction():
            await connection.execute(
                """
                INSERT INTO seen_tasks (action_id, action_id_reversed, first_seen, last_seen, last_worker)
                SELECT name, reverse(name), now() - interval '2 days',
                       now() - (i % 86400) * interval '1 second', 'worker-' || (i % 64)
                FROM (SELECT i, 'ns' || (i % $2) || '_wf' || (i % $3) || ':task-' || i AS name
                      FROM generate_series(0, $1 - 1) AS i) AS numbered
                """,
                discovered,
                NAMESPACES,
                WORKFLOWS,
            )
            await connection.execute(
                """
                INSERT INTO task_rules (action_id, mode, note, version, updated_at, updated_by)
                SELECT 'ns' || (k % $2) || '_wf' || (k % $3) || ':task-' || k,
                       CASE WHEN i % 3 = 0 THEN 'parent' ELSE 'link' END, NULL, 1,
                       now() - i * interval '1 second', 'bench'
                FROM (SELECT i, CASE WHEN i % 2 = 1 THEN i * 2 ELSE $4 + i END AS k
                      FROM generate_series(0, $1 - 1) AS i) AS numbered
                """,
                configured,
                NAMESPACES,
                WORKFLOWS,
                discovered,
            )
            await connection.executemany(
                "INSERT INTO pattern_rules (pattern, mode, note, version, updated_at, updated_by) "
                "VALUES ($1, $2, NULL, 1, now(), 'bench')",
                list(PATTERNS.items()),
            )
            await connection.execute("UPDATE rule_state SET revision = 1")
        # A steady state, as autovacuum would leave it (visibility map, hint bits, merged pending
        # list), and no autovacuum of a million new rows running during the measurements.
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("ALTER INDEX IF EXISTS ix_seen_tasks_search SET (fastupdate = off)")
        await connection.execute("ALTER INDEX IF EXISTS ix_seen_tasks_search RESET (gin_pending_list_limit)")
    finally:
        await connection.close()

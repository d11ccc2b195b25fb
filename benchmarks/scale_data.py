"""Fills large admin-service databases fast, straight in SQL: N discovered tasks, M configured
tasks and P patterns, on SQLite (executemany in one transaction) or PostgreSQL (COPY). Each
discovered task gets the effective mode the rule set decides (``seen_tasks.effective_mode``, as the
service stores it). The schema must exist: the service creates it (its migrations) when it starts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from hatchet_trace_flags.contract import Mode, RuleSet

__all__ = ["PATTERNS", "action_id", "fill", "patterns"]

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
_COPY_CHUNK = 100_000
_SEEN_COLUMNS = (
    "action_id",
    "action_id_reversed",
    "first_seen",
    "last_seen",
    "last_worker",
    "effective_mode",
    "mode_rule",
)


def patterns(count: int) -> dict[str, Mode]:
    """``count`` patterns: the handful above, then one prefix per workflow (each names a 500th of the
    tasks), then suffixes naming one task each."""
    chosen: dict[str, Mode] = dict(list(PATTERNS.items())[:count])
    for workflow in range(WORKFLOWS):
        if len(chosen) >= count:
            break
        chosen.setdefault(f"ns{workflow % NAMESPACES}_wf{workflow}:*", "link" if workflow % 2 else "parent")
    index = 0
    while len(chosen) < count:
        chosen.setdefault(f"*:task-{index * 101 + 13}", "link" if index % 2 else "parent")
        index += 1
    return chosen


def _configured(index: int, discovered: int) -> tuple[str, Mode]:
    # Half of them also discovered, half not (yet).
    return action_id(index * 2 if index % 2 else discovered + index), "link" if index % 3 else "parent"


def _rules(discovered: int, configured: int, pattern_count: int) -> RuleSet:
    tasks = dict(_configured(index, discovered) for index in range(configured))
    return RuleSet(tasks=tasks, patterns=patterns(pattern_count))


def action_id(index: int) -> str:
    """Spread over namespaces and workflows like real ones: ``ns3_wf42:task-123456``."""
    return f"ns{index % NAMESPACES}_wf{index % WORKFLOWS}:task-{index}"


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_SQLITE_FORMAT)


def fill(
    target: Path | str, *, discovered: int, configured: int, pattern_count: int = len(PATTERNS)
) -> float:
    """Fills a SQLite file (a path) or a PostgreSQL database (a DSN) with empty tables; returns the
    seconds it took. ``configured`` counts patterns too: a rule set holds at most 10,000 entries."""
    started = time.perf_counter()
    rules = _rules(discovered, configured - pattern_count, pattern_count)
    if isinstance(target, Path):
        _fill_sqlite(target, discovered, rules)
    else:
        asyncio.run(_fill_postgres(target, discovered, rules))
    return time.perf_counter() - started


def _fill_sqlite(path: Path, discovered: int, rules: RuleSet) -> None:
    now = datetime.now(UTC)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        with connection:
            connection.executemany(
                "INSERT INTO seen_tasks (action_id, action_id_reversed, first_seen, last_seen, last_worker, "
                "effective_mode, mode_rule) VALUES (?, ?, ?, ?, ?, ?, ?)",
                # In key order: appending to the primary key's B-tree is several times faster.
                sorted(
                    (
                        name,
                        name[::-1],
                        _sqlite_time(now - timedelta(days=2)),
                        _sqlite_time(now - timedelta(seconds=index % 86_400)),
                        f"worker-{index % 64}",
                        decision.mode,
                        decision.rule,
                    )
                    for index in range(discovered)
                    for name in (action_id(index),)
                    for decision in (rules.evaluate(name),)
                ),
            )
            connection.executemany(
                "INSERT INTO task_rules (action_id, mode, note, version, updated_at, updated_by) "
                "VALUES (?, ?, NULL, 1, ?, 'bench')",
                (
                    (name, mode, _sqlite_time(now - timedelta(seconds=index)))
                    for index, (name, mode) in enumerate(rules.tasks.items())
                ),
            )
            connection.executemany(
                "INSERT INTO pattern_rules (pattern, mode, note, version, updated_at, updated_by) "
                "VALUES (?, ?, NULL, 1, ?, 'bench')",
                ((pattern, mode, _sqlite_time(now)) for pattern, mode in rules.patterns.items()),
            )
            connection.execute("UPDATE rule_state SET revision = 1, modes_revision = 1")
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _fill_postgres(url: str, discovered: int, rules: RuleSet) -> None:
    connection = await asyncpg.connect(url)
    try:
        # The trigram index takes new rows one by one (fastupdate off, migration 0006): for the bulk
        # insert let them collect in its pending list, which VACUUM below merges in one pass.
        await connection.execute(
            "ALTER INDEX IF EXISTS ix_seen_tasks_search "
            "SET (fastupdate = on, gin_pending_list_limit = 2097151)"
        )
        now = datetime.now(UTC)
        async with connection.transaction():
            for start in range(0, discovered, _COPY_CHUNK):
                records = [
                    (
                        name,
                        name[::-1],
                        now - timedelta(days=2),
                        now - timedelta(seconds=index % 86_400),
                        f"worker-{index % 64}",
                        decision.mode,
                        decision.rule,
                    )
                    for index in range(start, min(discovered, start + _COPY_CHUNK))
                    for name in (action_id(index),)
                    for decision in (rules.evaluate(name),)
                ]
                await connection.copy_records_to_table("seen_tasks", records=records, columns=_SEEN_COLUMNS)
            await connection.executemany(
                "INSERT INTO task_rules (action_id, mode, note, version, updated_at, updated_by) "
                "VALUES ($1, $2, NULL, 1, $3, 'bench')",
                [
                    (name, mode, now - timedelta(seconds=index))
                    for index, (name, mode) in enumerate(rules.tasks.items())
                ],
            )
            await connection.executemany(
                "INSERT INTO pattern_rules (pattern, mode, note, version, updated_at, updated_by) "
                "VALUES ($1, $2, NULL, 1, now(), 'bench')",
                list(rules.patterns.items()),
            )
            await connection.execute("UPDATE rule_state SET revision = 1, modes_revision = 1")
        # A steady state, as autovacuum would leave it (visibility map, hint bits, merged pending
        # list), and no autovacuum of a million new rows running during the measurements.
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("ALTER INDEX IF EXISTS ix_seen_tasks_search SET (fastupdate = off)")
        await connection.execute("ALTER INDEX IF EXISTS ix_seen_tasks_search RESET (gin_pending_list_limit)")
    finally:
        await connection.close()

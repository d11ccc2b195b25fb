"""The effective mode stored per discovered task (``seen_tasks.effective_mode`` and ``mode_rule``,
migration 0012): the reads and short writes that keep it equal to what the contract's ``RuleSet``
decides. The service's :class:`~hatchet_trace_flags_server.services.mode_keeper.ModeKeeper` decides
which rows to look at and when.

Every write checks, under the write lock, that the rule set it decided with is still the stored one
(the ``rule_state`` revision; on PostgreSQL read ``FOR SHARE``, so a rule change waits for the few
milliseconds the batch holds it): a batch decided with an older rule set is refused, never stored.
A batch holds the write lock only while the database works on it, never while this process's event
loop is busy elsewhere: on SQLite it runs in a worker thread (``Database.write_derived``), on
PostgreSQL it is one statement in its own transaction.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import RuleSet
from hatchet_trace_flags_server.core.records import RulesSnapshot

from .database import Database, chunks
from .schema import rule_state, seen_tasks
from .task_list.mode_sql import seen_task_matches

__all__ = ["ModeStore", "StoredMode", "WriteOutcome", "decided_rules", "mode_columns"]

_NAMES_CHUNK: Final = 500
# SQLite 3.38+ (UPDATE ... FROM since 3.33, JSON built in since 3.38): a batch is one statement, one
# call into SQLite, however many rows; before that, one statement per row.
_SQLITE_ONE_STATEMENT: Final = sqlite3.sqlite_version_info >= (3, 38, 0)
_SQLITE_UPDATE: Final = (
    "UPDATE seen_tasks SET effective_mode = json_extract(batch.value, '$[1]'), "
    "mode_rule = json_extract(batch.value, '$[2]') "
    "FROM json_each(:rows) AS batch WHERE seen_tasks.action_id = json_extract(batch.value, '$[0]')"
)
_SQLITE_UPDATE_ROW: Final = "UPDATE seen_tasks SET effective_mode = ?, mode_rule = ? WHERE action_id = ?"
_SQLITE_REVISION: Final = "SELECT revision FROM rule_state WHERE id = 1"
# PostgreSQL: a batch is one statement in its own implicit transaction, so the locks it takes end with
# it, on the server. In a transaction of several statements each round trip waits for this process's
# event loop while the locks are held, and with busy request handlers that wait (not the work) took
# batches past 50 ms. ``guard`` takes the revision FOR SHARE (a rule change waits for the batch; a batch
# decided with an older rule set finds no row and writes nothing); ``locked`` locks the rows in key
# order, as reports' upserts do, so the two never deadlock; the update then touches only locked rows.
_POSTGRES_UPDATE: Final = sa.text(
    "WITH guard AS MATERIALIZED ("
    "SELECT 1 FROM rule_state WHERE id = 1 AND revision = :revision FOR SHARE), "
    "batch AS MATERIALIZED ("
    "SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:modes AS text[]), CAST(:rules AS text[])) "
    "AS b(key, mode, rule)), "
    "locked AS MATERIALIZED ("
    "SELECT seen_tasks.action_id FROM seen_tasks JOIN batch ON seen_tasks.action_id = batch.key "
    "WHERE EXISTS (SELECT 1 FROM guard) ORDER BY seen_tasks.action_id FOR UPDATE OF seen_tasks), "
    "updated AS (UPDATE seen_tasks SET effective_mode = batch.mode, mode_rule = batch.rule "
    "FROM batch, locked WHERE seen_tasks.action_id = batch.key "
    "AND seen_tasks.action_id = locked.action_id RETURNING 1) "
    # Measured by the server once the last row is written: the locks end with the commit right after,
    # with no wait for this process in between (a client-side clock would count its event loop's).
    "SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) FROM updated"
)
_COLUMNS: Final = (seen_tasks.c.action_id, seen_tasks.c.effective_mode, seen_tasks.c.mode_rule)


@dataclass(frozen=True, slots=True)
class StoredMode:
    action_id: str
    mode: str | None
    rule: str | None

    def stale_under(self, rules: RuleSet) -> bool:
        decision = rules.evaluate(self.action_id)
        return (decision.mode, decision.rule) != (self.mode, self.rule)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    written: bool  # False: the rule set moved on; nothing was written
    held_seconds: float  # how long the transaction held the write lock


def mode_columns(rules: RuleSet | None, action_id: str) -> dict[str, str | None]:
    """The stored-mode columns of a new ``seen_tasks`` row; NULL (decided later) without ``rules``."""
    if rules is None:
        return {"effective_mode": None, "mode_rule": None}
    decision = rules.evaluate(action_id)
    return {"effective_mode": decision.mode, "mode_rule": decision.rule}


async def _stored_revision(connection: AsyncConnection) -> int:
    # FOR SHARE on PostgreSQL (SQLite has one writer anyway): a rule change, which updates this row,
    # waits until this transaction ends, so what it decided cannot be overtaken unseen.
    statement = sa.select(rule_state.c.revision).where(rule_state.c.id == 1).with_for_update(read=True)
    revision: int = (await connection.execute(statement)).scalar_one()
    return revision


async def decided_rules(connection: AsyncConnection, known: RulesSnapshot | None) -> RuleSet | None:
    """``known``'s rules if they are the stored rule set (read in this write transaction), else
    ``None``: rows written now are then left undecided for the keeper."""
    if known is None:
        return None
    return known.rules if await _stored_revision(connection) == known.revision else None


def _rows(result: Iterable[Sequence[Any]]) -> list[StoredMode]:
    return [StoredMode(row[0], row[1], row[2]) for row in result]


class ModeStore:
    def __init__(self, database: Database, write_lock: asyncio.Lock | None) -> None:
        self._db = database
        self._write_lock = write_lock

    async def named_by(self, pattern: str, *, limit: int) -> list[StoredMode] | None:
        """The discovered tasks ``pattern`` names (one index range), or ``None`` when more than
        ``limit``: those are then walked with :meth:`scan`."""
        statement = (
            sa.select(*_COLUMNS)
            .where(seen_task_matches(pattern, postgres=self._db.is_postgres))
            .limit(limit + 1)
        )
        async with self._db.connect() as connection:
            rows = _rows(await connection.execute(statement))
        return rows if len(rows) <= limit else None

    async def scan(self, after: str | None, limit: int) -> list[StoredMode]:
        """Up to ``limit`` discovered tasks after ``after``, in primary-key order."""
        statement = sa.select(*_COLUMNS).order_by(seen_tasks.c.action_id).limit(limit)
        if after is not None:
            statement = statement.where(seen_tasks.c.action_id > after)
        async with self._db.connect() as connection:
            return _rows(await connection.execute(statement))

    async def named(self, action_ids: Sequence[str]) -> list[StoredMode]:
        rows: list[StoredMode] = []
        async with self._db.connect() as connection:
            for chunk in chunks(sorted(set(action_ids)), _NAMES_CHUNK):
                statement = sa.select(*_COLUMNS).where(seen_tasks.c.action_id.in_(chunk))
                rows += _rows(await connection.execute(statement))
        return rows

    async def undecided(self, limit: int) -> list[StoredMode]:
        """Rows written while the rule set was changing (no mode yet); an index range."""
        statement = sa.select(*_COLUMNS).where(seen_tasks.c.effective_mode.is_(None)).limit(limit)
        async with self._db.connect() as connection:
            return _rows(await connection.execute(statement))

    async def complete_revision(self) -> int | None:
        """The revision whose effective modes are all stored (``None``: unknown)."""
        async with self._db.connect() as connection:
            revision: int | None = (await connection.execute(sa.select(rule_state.c.modes_revision))).scalar()
        return revision

    async def mark_complete(self, revision: int) -> None:
        """Record that every mode ``revision`` decides is stored, if it is still the current one."""
        async with self._db.write_transaction(self._write_lock) as connection:
            await connection.execute(
                rule_state.update()
                .where(rule_state.c.id == 1, rule_state.c.revision == revision)
                .values(modes_revision=revision)
            )

    async def write(self, snapshot: RulesSnapshot, rows: Sequence[StoredMode]) -> WriteOutcome:
        """Store what ``snapshot``'s rules decide for ``rows``, in one short transaction, if that
        rule set is still the stored one."""
        # In key order, as reports upsert theirs: two transactions never wait for each other's rows.
        decided = [
            (row.action_id, decision.mode, decision.rule)
            for row in sorted(rows, key=lambda row: row.action_id)
            for decision in (snapshot.rules.evaluate(row.action_id),)
        ]
        if self._db.is_postgres:
            return await self._write_postgres(snapshot, decided)

        # Serialised before the lock is taken, not while it is held.
        rows_json = json.dumps(decided) if _SQLITE_ONE_STATEMENT else None

        def store(connection: sqlite3.Connection) -> bool:
            if connection.execute(_SQLITE_REVISION).fetchone() != (snapshot.revision,):
                return False
            if rows_json is not None:
                connection.execute(_SQLITE_UPDATE, {"rows": rows_json})
            else:
                connection.executemany(_SQLITE_UPDATE_ROW, [(mode, rule, key) for key, mode, rule in decided])
            return True

        # In a worker thread from BEGIN to COMMIT: the write lock is never held while this process's
        # event loop is busy elsewhere.
        written, held = await self._db.write_derived(store, self._write_lock)
        return WriteOutcome(written, held)

    async def _write_postgres(
        self, snapshot: RulesSnapshot, decided: Sequence[tuple[str, str, str | None]]
    ) -> WriteOutcome:
        parameters = {
            "revision": snapshot.revision,
            "keys": [key for key, _, _ in decided],
            "modes": [mode for _, mode, _ in decided],
            "rules": [rule for _, _, rule in decided],
        }
        async with self._db.connect(write=True) as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            count, held = (await autocommit.execute(_POSTGRES_UPDATE, parameters)).one()
            # Fewer rows than sent: the rule set moved on, or some were forgotten meanwhile.
            written = count == len(decided) or (
                (await autocommit.execute(sa.select(rule_state.c.revision))).scalar_one() == snapshot.revision
            )
        return WriteOutcome(written, float(held))

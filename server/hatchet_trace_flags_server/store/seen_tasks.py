"""Discovered tasks: what workers report they run, bounded in number and in age.

These rows are not rules: writing them never bumps the rule-set revision, so a flood of reports
cannot reach the change stream. The table is bounded three ways: a cap on its size (new action_ids
past it are ignored, known ones are still refreshed), a retention period after which rows that no
worker reported again are deleted, and an admin's explicit "forget".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags_server.core.records import SeenResult

from .database import Database, chunks
from .schema import seen_tasks, utcnow

__all__ = ["SeenStore"]


# A worker reporting the same task again within this window does not rewrite its row.
SEEN_REFRESH_SECONDS: Final = 30
_CHUNK: Final = 500
# Rows deleted per transaction by the retention sweep: short transactions, so reports and
# rule writes (one SQLite writer at a time) never wait long behind it.
_SWEEP_BATCH: Final = 2000


class SeenStore:
    def __init__(self, database: Database, write_lock: asyncio.Lock | None) -> None:
        self._db = database
        # Shared with the rule store on SQLite, where there is one writer at a time anyway.
        self._write_lock = write_lock

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.write_transaction(self._write_lock) as connection:
            yield connection

    async def record(self, worker: str, action_ids: Iterable[str], *, cap: int) -> SeenResult:
        """Remember that ``worker`` runs these tasks; at most ``cap`` rows in all."""
        unique = sorted(set(action_ids))
        if not unique:
            return SeenResult(0, 0)
        now = utcnow()
        async with self._write() as connection:
            known: set[str] = set()
            for chunk in chunks(unique, _CHUNK):
                rows = await connection.execute(
                    sa.select(seen_tasks.c.action_id).where(seen_tasks.c.action_id.in_(chunk))
                )
                known.update(rows.scalars())
            new = [action_id for action_id in unique if action_id not in known]
            ignored = 0
            if new:
                # Counted only when something would be added: reports of known tasks stay cheap.
                count = await _count(connection)
                room = max(0, cap - count)
                if room < len(new):
                    ignored = len(new) - room
                    new = new[:room]
            accepted = sorted(known) + new
            if accepted:
                await self._upsert(connection, worker, accepted, now)
        return SeenResult(len(accepted), ignored)

    async def _upsert(
        self, connection: AsyncConnection, worker: str, action_ids: Sequence[str], now: datetime
    ) -> None:
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(seen_tasks)
        statement = insert.on_conflict_do_update(
            index_elements=["action_id"],
            set_={"last_seen": insert.excluded.last_seen, "last_worker": insert.excluded.last_worker},
            # Frequent re-reports from the same worker would otherwise rewrite the rows each time.
            where=(seen_tasks.c.last_worker != insert.excluded.last_worker)
            | (seen_tasks.c.last_seen < now - timedelta(seconds=SEEN_REFRESH_SECONDS)),
        )
        rows = [
            {
                "action_id": action_id,
                "action_id_reversed": action_id[::-1],
                "first_seen": now,
                "last_seen": now,
                "last_worker": worker,
            }
            for action_id in action_ids
        ]
        for chunk in chunks(rows, _CHUNK):
            await connection.execute(statement, chunk)

    async def forget(self, action_ids: Iterable[str]) -> int:
        """Delete these discovered tasks (their rules, if any, stay); returns how many existed."""
        unique = sorted(set(action_ids))
        deleted = 0
        async with self._write() as connection:
            for chunk in chunks(unique, _CHUNK):
                result = await connection.execute(
                    seen_tasks.delete().where(seen_tasks.c.action_id.in_(chunk))
                )
                deleted += result.rowcount
        return deleted

    async def expire(self, older_than: datetime) -> int:
        """Delete tasks last reported before ``older_than``, in short batches; returns how many."""
        deleted = 0
        while True:
            async with self._write() as connection:
                batch = (
                    sa.select(seen_tasks.c.action_id)
                    .where(seen_tasks.c.last_seen < older_than)
                    .limit(_SWEEP_BATCH)
                    .scalar_subquery()
                )
                result = await connection.execute(
                    seen_tasks.delete().where(seen_tasks.c.action_id.in_(batch))
                )
            deleted += result.rowcount
            if result.rowcount < _SWEEP_BATCH:
                return deleted

    async def count(self) -> int:
        async with self._db.connect() as connection:
            return await _count(connection)


async def _count(connection: AsyncConnection) -> int:
    total: int = (await connection.execute(sa.select(sa.func.count()).select_from(seen_tasks))).scalar_one()
    return total

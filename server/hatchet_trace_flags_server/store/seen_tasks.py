"""Discovered tasks: what workers report they run, bounded in number and in age.

These rows are not rules: writing them never bumps the rule-set revision, so a flood of reports
cannot reach the change stream. The table is bounded three ways: a cap on its size (new action_ids
past it are ignored, known ones are still refreshed), a retention period after which rows that no
worker reported again are deleted, and an admin's explicit "forget".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import RuleSet
from hatchet_trace_flags_server.core.records import RulesSnapshot, SeenResult

from .caps import CappedTable, hold_cap
from .database import Database, chunks
from .schema import seen_tasks, utcnow
from .task_modes import decided_rules, mode_columns

__all__ = ["SeenStore"]


# A worker reporting the same task again within this window does not rewrite its row.
SEEN_REFRESH_SECONDS: Final = 30
_CHUNK: Final = 500
# Rows deleted per transaction by the retention sweep: short transactions, so reports and
# rule writes (one SQLite writer at a time) never wait long behind it.
_SWEEP_BATCH: Final = 2000


class SeenStore:
    def __init__(
        self,
        database: Database,
        write_lock: asyncio.Lock | None,
        *,
        known: Callable[[], RulesSnapshot | None] = lambda: None,
    ) -> None:
        self._db = database
        # Shared with the rule store on SQLite, where there is one writer at a time anyway.
        self._write_lock = write_lock
        # The snapshot this process serves: new rows store its decision (store/task_modes.py).
        self._known = known

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.write_transaction(self._write_lock) as connection:
            yield connection

    async def record(
        self, worker: str, action_ids: Iterable[str], *, cap: int, character_cap: int | None = None
    ) -> SeenResult:
        """Remember that ``worker`` runs these tasks: at most ``cap`` rows in all, whose action_ids and
        worker names add up to at most ``character_cap`` characters (a row's storage grows with both:
        docs/server.md, "Limits"). New action_ids past either bound are ignored; known ones are still
        refreshed, keeping their old worker name when a longer one would not fit."""
        unique = sorted(set(action_ids))
        if not unique:
            return SeenResult(0, 0)
        now = utcnow()
        async with self._write() as connection:
            known: dict[str, int] = {}  # action_id -> length of its worker name
            for chunk in chunks(unique, _CHUNK):
                rows = await connection.execute(
                    sa.select(seen_tasks.c.action_id, sa.func.length(seen_tasks.c.last_worker)).where(
                        seen_tasks.c.action_id.in_(chunk)
                    )
                )
                known.update((action_id, int(length)) for action_id, length in rows)
            new = [action_id for action_id in unique if action_id not in known]
            growth = sum(max(0, len(worker) - length) for length in known.values())
            ignored = 0
            keep_workers = False
            if new or (character_cap is not None and growth):
                # Counted only when something could grow: reports of known tasks stay cheap.
                count, characters = await _count_and_characters(connection)
                room = None if character_cap is None else character_cap - characters
                fitting: list[str] = []
                for action_id in new:
                    cost = len(action_id) + len(worker)
                    if count + len(fitting) >= cap or (room is not None and cost > room):
                        break
                    fitting.append(action_id)
                    room = None if room is None else room - cost
                ignored = len(new) - len(fitting)
                new = fitting
                keep_workers = room is not None and growth > room
            # Decided with the served rules if they are the stored ones, else left to the mode keeper.
            rules = await decided_rules(connection, self._known()) if new else None
            if known:
                await self._upsert(
                    connection, worker, sorted(known), now, keep_workers=keep_workers, rules=rules
                )
            dropped = 0
            if new:
                await self._upsert(connection, worker, new, now, keep_workers=False, rules=rules)
                dropped = await _drop_past_caps(connection, worker, new, now, cap, character_cap)
        return SeenResult(len(known) + len(new) - dropped, ignored + dropped)

    async def _upsert(
        self,
        connection: AsyncConnection,
        worker: str,
        action_ids: Sequence[str],
        now: datetime,
        *,
        keep_workers: bool,
        rules: RuleSet | None = None,
    ) -> None:
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(seen_tasks)
        refreshed = {"last_seen": insert.excluded.last_seen}
        if not keep_workers:
            refreshed["last_worker"] = insert.excluded.last_worker
        statement = insert.on_conflict_do_update(
            index_elements=["action_id"],
            set_=refreshed,
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
                **mode_columns(rules, action_id),
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


async def _drop_past_caps(
    connection: AsyncConnection,
    worker: str,
    inserted: Sequence[str],
    now: datetime,
    cap: int,
    character_cap: int | None,
) -> int:
    """Count again under the cap's lock, now that this report's new rows are in, and delete the last
    of them past either cap; returns how many were deleted. Concurrent reports each counted without
    the others' rows (store/caps.py): the lock is taken after the insert, so it is held only for a
    count and the commit, and every report that commits after this one counts its rows."""
    if not await hold_cap(connection, CappedTable.DISCOVERED_TASKS):
        return 0  # one writer at a time: the count before the insert holds
    count, characters = await _count_and_characters(connection)
    excess_rows = count - cap
    excess_characters = 0 if character_cap is None else characters - character_cap
    past: list[str] = []
    for action_id in reversed(inserted):
        if excess_rows <= 0 and excess_characters <= 0:
            break
        past.append(action_id)
        excess_rows -= 1
        excess_characters -= len(action_id) + len(worker)
    deleted = 0
    for chunk in chunks(past, _CHUNK):
        # Only the rows this report created: one another report created first stays.
        result = await connection.execute(
            seen_tasks.delete().where(
                seen_tasks.c.action_id.in_(chunk),
                seen_tasks.c.first_seen == now,
                seen_tasks.c.last_worker == worker,
            )
        )
        deleted += result.rowcount
    return deleted


async def _count_and_characters(connection: AsyncConnection) -> tuple[int, int]:
    """Rows, and the characters of their action_ids and worker names."""
    characters = sa.func.length(seen_tasks.c.action_id) + sa.func.length(seen_tasks.c.last_worker)
    row = (
        await connection.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(characters), 0)))
    ).one()
    return int(row[0]), int(row[1])


async def _count(connection: AsyncConnection) -> int:
    total: int = (await connection.execute(sa.select(sa.func.count()).select_from(seen_tasks))).scalar_one()
    return total

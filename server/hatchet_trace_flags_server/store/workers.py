"""Workers' reports of themselves: the latest per worker, bounded in number and in age.

Like discovered tasks, these rows are not rules: writing them never bumps the revision. The table is
bounded by a cap (a new worker past it is ignored; known ones are still refreshed) and by the retention
sweep (``expire``). Workers whose library sends no such report are read from the task reports
(``seen_tasks.last_worker``): they are listed with an unknown revision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hatchet_trace_flags_server.core.fleet import WorkerRow

from .caps import CappedTable, hold_cap
from .database import Database, chunks
from .schema import audit_events, seen_tasks, utcnow, workers

__all__ = ["WorkerStore"]

# A running task refreshed this recently by the same worker is not rewritten.
TOUCH_REFRESH: Final = timedelta(seconds=20)
_CHUNK: Final = 500
_SWEEP_BATCH: Final = 2000


class WorkerStore:
    def __init__(self, database: Database, write_lock: asyncio.Lock | None) -> None:
        self._db = database
        self._write_lock = write_lock

    async def record(
        self, values: dict[str, Any], *, reporter: str, running: Sequence[str], cap: int
    ) -> bool:
        """Keep this report as the worker's latest; refresh the sightings of the tasks it ran again.
        Returns False (and writes nothing) for a new worker past ``cap``."""
        now = utcnow()
        row = {**values, "reporter": reporter, "first_seen": now, "last_seen": now, "revision_seen_at": now}
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(workers)
        same_revision = workers.c.revision.is_not_distinct_from(insert.excluded.revision) & (
            workers.c.store.is_not_distinct_from(insert.excluded.store)
        )
        kept = {"worker", "first_seen", "revision_seen_at"}
        statement = insert.on_conflict_do_update(
            index_elements=["worker"],
            set_={
                **{name: insert.excluded[name] for name in row if name not in kept},
                # First report of a revision: when the change reached this worker, as the service saw it.
                "revision_seen_at": sa.case(
                    (same_revision, workers.c.revision_seen_at), else_=insert.excluded.revision_seen_at
                ),
            },
        )
        async with self._db.write_transaction(self._write_lock) as connection:
            known = (
                await connection.execute(sa.select(workers.c.worker).where(workers.c.worker == row["worker"]))
            ).first()
            if known is None:
                await hold_cap(connection, CappedTable.WORKERS)  # see store/caps.py
                count = (
                    await connection.execute(sa.select(sa.func.count()).select_from(workers))
                ).scalar_one()
                if count >= cap:
                    return False
            await connection.execute(statement, row)
            for chunk in chunks(sorted(set(running)), _CHUNK):
                # Only tasks already discovered: new ones come through the task report, with its cap.
                await connection.execute(
                    seen_tasks.update()
                    .where(
                        seen_tasks.c.action_id.in_(chunk),
                        (seen_tasks.c.last_seen < now - TOUCH_REFRESH)
                        | (seen_tasks.c.last_worker != row["worker"]),
                    )
                    .values(
                        last_seen=now,
                        # Never a longer name than the row had: the task table is bounded by its
                        # characters too (MAX_DISCOVERED_CHARACTERS), and a heartbeat must not grow it.
                        last_worker=sa.case(
                            (sa.func.length(seen_tasks.c.last_worker) >= len(row["worker"]), row["worker"]),
                            else_=seen_tasks.c.last_worker,
                        ),
                    )
                )
        return True

    async def list(self, *, since: datetime, limit: int) -> list[WorkerRow]:
        """Workers that reported since ``since``, most recent first: those with reports of themselves,
        then those known only from their task reports."""
        async with self._db.connect() as connection:
            reported = (
                await connection.execute(
                    sa.select(workers)
                    .where(workers.c.last_seen >= since)
                    .order_by(workers.c.last_seen.desc(), workers.c.worker)
                    .limit(limit)
                )
            ).all()
            rows = [
                WorkerRow(
                    worker=row.worker,
                    last_seen=row.last_seen,
                    reported=True,
                    host=row.host,
                    library_version=row.library_version,
                    sdk_version=row.sdk_version,
                    provider=row.provider,
                    source=row.source,
                    revision=row.revision,
                    store=row.store,
                    applied_at=row.applied_at,
                    revision_seen_at=row.revision_seen_at,
                    streaming=row.streaming,
                )
                for row in reported
            ]
            room = limit - len(rows)
            if room > 0:
                last_seen = sa.func.max(seen_tasks.c.last_seen).label("last_seen")
                legacy = await connection.execute(
                    sa.select(seen_tasks.c.last_worker, last_seen)
                    .where(
                        seen_tasks.c.last_seen >= since,
                        ~sa.exists().where(workers.c.worker == seen_tasks.c.last_worker),
                    )
                    .group_by(seen_tasks.c.last_worker)
                    .order_by(last_seen.desc())
                    .limit(room)
                )
                # max() keeps the column's type: timezone-aware UTC on both backends.
                rows.extend(
                    WorkerRow(worker=worker, last_seen=seen, reported=False) for worker, seen in legacy
                )
        return rows

    async def changed_at(self, revision: int) -> datetime | None:
        """When ``revision`` was written (its audit event), None when it has none."""
        async with self._db.connect() as connection:
            at: datetime | None = (
                await connection.execute(
                    sa.select(audit_events.c.at).where(audit_events.c.revision == revision)
                )
            ).scalar_one_or_none()
        return at

    async def expire(self, older_than: datetime) -> int:
        """Forget workers that did not report since ``older_than``, in short batches."""
        deleted = 0
        while True:
            async with self._db.write_transaction(self._write_lock) as connection:
                batch = (
                    sa.select(workers.c.worker)
                    .where(workers.c.last_seen < older_than)
                    .limit(_SWEEP_BATCH)
                    .scalar_subquery()
                )
                result = await connection.execute(workers.delete().where(workers.c.worker.in_(batch)))
            deleted += result.rowcount
            if result.rowcount < _SWEEP_BATCH:
                return deleted

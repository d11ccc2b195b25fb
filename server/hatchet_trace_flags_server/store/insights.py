"""Fan-out summaries from workers, merged per task and per minute of arrival (docs/insight.md).

Bounded like discovered tasks: at most ``cap`` tasks (new action_ids past it are ignored), at most
one row per task and minute (however many workers and replicas report), rows older than the insight
window deleted by the retention sweep, and an admin's "forget" removes a task's rows too. Like
``seen_tasks``, nothing here is a rule: writing it never bumps the rule-set revision.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import (
    CHILDREN_BOUNDS,
    SECONDS_BOUNDS,
    ChildSide,
    Histogram,
    SpawnerSide,
    TaskSummary,
    exemplar_from_json,
)

from .caps import CappedTable, hold_cap
from .database import Database, chunks
from .schema import insight_comparisons, insight_dismissals, task_insights, utcnow

__all__ = ["InsightResult", "InsightStore", "summary_from_json"]

_CHUNK: Final = 200
_SWEEP_BATCH: Final = 2000


@dataclass(frozen=True, slots=True)
class InsightResult:
    recorded: int  # tasks whose summaries were merged
    ignored: int  # new tasks dropped because the cap is reached


def summary_from_json(document: Mapping[str, Any]) -> TaskSummary:
    """A stored row back into the library's mergeable summary. Rows are written only from validated
    reports (``TaskSummaryIn``), so this reads them directly: ten times faster than validating again,
    which matters when a page adds up thousands of rows."""
    child = document.get("child")
    spawner = document.get("spawner")
    return TaskSummary(
        ChildSide(
            child["runs"],
            child["link"],
            child["parent"],
            child["clamped"],
            _histogram(child["start_delay"], SECONDS_BOUNDS),
            _histogram(child["duration"], SECONDS_BOUNDS),
            exemplar_from_json(child.get("exemplar")),
        )
        if child is not None
        else None,
        SpawnerSide(
            spawner["runs"],
            _histogram(spawner["children"], CHILDREN_BOUNDS),
            dict(spawner["by_workflow"]),
            _histogram(spawner["duration"], SECONDS_BOUNDS),
            exemplar_from_json(spawner.get("exemplar")),
        )
        if spawner is not None
        else None,
    )


def _histogram(document: Mapping[str, Any], bounds: tuple[float, ...]) -> Histogram:
    return Histogram(
        bounds,
        list(document["buckets"]),
        document["count"],
        document["sum"],
        document["min"],
        document["max"],
    )


def _summary_json(summary: TaskSummary) -> dict[str, Any]:
    document = summary.to_json("")
    del document["action_id"]
    return document


class InsightStore:
    def __init__(self, database: Database, write_lock: asyncio.Lock | None) -> None:
        self._db = database
        self._write_lock = write_lock  # the rule store's, on SQLite (one writer at a time anyway)

    async def record(self, summaries: Mapping[str, TaskSummary], *, minute: int, cap: int) -> InsightResult:
        """Merge ``summaries`` into the rows of ``minute``; at most ``cap`` tasks in all."""
        # Sorted: two replicas locking the same rows take them in the same order (no deadlock).
        unique = sorted(summaries)
        if not unique:
            return InsightResult(0, 0)
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(task_insights)
        async with self._db.write_transaction(self._write_lock) as connection:
            known: set[str] = set()
            for chunk in chunks(unique, _CHUNK):
                rows = await connection.execute(
                    sa.select(task_insights.c.action_id)
                    .distinct()
                    .where(task_insights.c.action_id.in_(chunk))
                )
                known.update(rows.scalars())
            new = [action_id for action_id in unique if action_id not in known]
            ignored = 0
            if new:
                await hold_cap(connection, CappedTable.INSIGHT_TASKS)  # see store/caps.py
                count = await _count_tasks(connection)
                room = max(0, cap - count)
                if room < len(new):
                    ignored = len(new) - room
                    new = new[:room]
            accepted = sorted([*known, *new])
            for chunk in chunks(accepted, _CHUNK):
                # Make sure each row exists, then lock and merge: concurrent reports (other replicas)
                # wait for each other instead of failing on the primary key.
                await connection.execute(
                    insert.on_conflict_do_nothing(index_elements=["action_id", "minute"]),
                    [{"action_id": a, "minute": minute, "summary": {}} for a in chunk],
                )
                current = await connection.execute(
                    sa.select(task_insights.c.action_id, task_insights.c.summary)
                    .where(task_insights.c.minute == minute, task_insights.c.action_id.in_(chunk))
                    .order_by(task_insights.c.action_id)
                    .with_for_update()
                )
                updates = []
                for action_id, stored in current:
                    merged = summary_from_json(stored)
                    merged.merge(summaries[action_id])
                    updates.append({"key": action_id, "summary": _summary_json(merged)})
                await connection.execute(
                    task_insights.update()
                    .where(
                        task_insights.c.action_id == sa.bindparam("key"),
                        task_insights.c.minute == minute,
                    )
                    .values(summary=sa.bindparam("summary")),
                    updates,
                )
        return InsightResult(len(accepted), ignored)

    async def window(self, since_minute: int, until_minute: int | None = None) -> dict[str, TaskSummary]:
        """Every task's summaries from ``since_minute`` on (to before ``until_minute``), merged. At the
        cap that is 30,000 rows and most of a second of CPU: decoded and merged in a thread, so the
        event loop keeps serving."""
        condition = task_insights.c.minute >= since_minute
        if until_minute is not None:
            condition &= task_insights.c.minute < until_minute
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(
                # As text: decoding is part of the work done off the loop.
                sa.select(task_insights.c.action_id, sa.cast(task_insights.c.summary, sa.Text)).where(
                    condition
                )
            )
            raw = [(str(action_id), str(text)) for action_id, text in rows]
        return await asyncio.to_thread(_merge_rows, raw)

    async def expire(self, before_minute: int) -> int:
        """Delete rows older than ``before_minute``, in short batches; returns how many."""
        deleted = 0
        while True:
            async with self._db.write_transaction(self._write_lock) as connection:
                old = (
                    sa.select(task_insights.c.action_id, task_insights.c.minute)
                    .where(task_insights.c.minute < before_minute)
                    .limit(_SWEEP_BATCH)
                )
                keys = list(await connection.execute(old))
                for chunk in chunks(keys, _CHUNK):
                    await connection.execute(
                        task_insights.delete().where(
                            sa.tuple_(task_insights.c.action_id, task_insights.c.minute).in_(
                                [tuple(key) for key in chunk]
                            )
                        )
                    )
            deleted += len(keys)
            if len(keys) < _SWEEP_BATCH:
                break
        # A dismissal outlives its numbers only as long as the task is still measured.
        async with self._db.write_transaction(self._write_lock) as connection:
            await connection.execute(
                insight_dismissals.delete().where(
                    insight_dismissals.c.action_id.not_in(sa.select(task_insights.c.action_id))
                )
            )
        return deleted

    async def forget(self, action_ids: Iterable[str]) -> int:
        """Delete these tasks' summaries, dismissals and comparisons; returns how many tasks had summaries."""
        unique = sorted(set(action_ids))
        forgotten = 0
        async with self._db.write_transaction(self._write_lock) as connection:
            for chunk in chunks(unique, _CHUNK):
                had = await connection.execute(
                    sa.select(sa.func.count(task_insights.c.action_id.distinct())).where(
                        task_insights.c.action_id.in_(chunk)
                    )
                )
                forgotten += int(had.scalar_one())
                await connection.execute(task_insights.delete().where(task_insights.c.action_id.in_(chunk)))
                await connection.execute(
                    insight_dismissals.delete().where(insight_dismissals.c.action_id.in_(chunk))
                )
                await connection.execute(
                    insight_comparisons.delete().where(insight_comparisons.c.action_id.in_(chunk))
                )
        return forgotten

    async def dismiss(self, action_id: str, mode: str, actor: str) -> None:
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(insight_dismissals)
        row = {"action_id": action_id, "mode": mode, "dismissed_at": utcnow(), "dismissed_by": actor}
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["action_id"],
            set_={key: value for key, value in row.items() if key != "action_id"},
        )
        async with self._db.write_transaction(self._write_lock) as connection:
            await connection.execute(statement)

    async def undismiss(self, action_id: str) -> bool:
        async with self._db.write_transaction(self._write_lock) as connection:
            result = await connection.execute(
                insight_dismissals.delete().where(insight_dismissals.c.action_id == action_id)
            )
        return bool(result.rowcount)

    async def dismissals(self) -> dict[str, str]:
        """action_id -> the mode whose recommendation was dismissed."""
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(insight_dismissals.c.action_id, insight_dismissals.c.mode)
            )
            return {str(row[0]): str(row[1]) for row in rows}


def _merge_rows(rows: Iterable[tuple[str, str]]) -> dict[str, TaskSummary]:
    merged: dict[str, TaskSummary] = {}
    for action_id, text in rows:
        summary = summary_from_json(json.loads(text))
        if action_id in merged:
            merged[action_id].merge(summary)
        else:
            merged[action_id] = summary
    return merged


async def _count_tasks(connection: AsyncConnection) -> int:
    total = await connection.execute(sa.select(sa.func.count(task_insights.c.action_id.distinct())))
    return int(total.scalar_one())

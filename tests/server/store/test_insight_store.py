"""The insight table stays bounded: one row per task and minute however many reports arrive, rows
older than the window swept away (with dismissals of tasks no longer measured)."""

from __future__ import annotations

import sqlalchemy as sa
from hatchet_trace_flags_server.core.insight_bodies import InsightsIn
from hatchet_trace_flags_server.services.retention import RetentionSweep
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.schema import task_insights, utcnow
from hatchet_trace_flags_server.store.store import Store

from hatchet_trace_flags.contract import TaskSummary
from tests.support.server.insight_reports import CHILD, SPAWNER, fan_out_report
from tests.support.server.live import SettingsFactory


def _summaries(worker: str) -> dict[str, TaskSummary]:
    body = InsightsIn.model_validate(fan_out_report(worker))
    return {task.action_id: task.to_summary() for task in body.tasks}


async def _rows(database: Database) -> int:
    async with database.engine.connect() as connection:
        count = await connection.execute(sa.select(sa.func.count()).select_from(task_insights))
        return int(count.scalar_one())


async def test_one_row_per_task_and_minute_and_the_sweep_keeps_the_window(
    make_settings: SettingsFactory,
) -> None:
    database = Database(make_settings().sqlalchemy_url())
    await database.migrate()
    try:
        insights = Store(database).insights
        for minute in (100, 100, 100, 101, 130):
            for worker in ("a", "b"):
                await insights.record(_summaries(worker), minute=minute, cap=10)
        assert await _rows(database) == 2 * 3  # two tasks, three minutes

        merged = await insights.window(since_minute=100)
        child = merged[CHILD].child
        assert child is not None
        assert child.runs == 10 * 600
        recent = await insights.window(since_minute=101)
        spawner = recent[SPAWNER].spawner
        assert spawner is not None
        assert spawner.runs == 4 * 3

        await insights.dismiss(CHILD, "link", "alice")
        assert await insights.expire(before_minute=101) == 2
        assert await _rows(database) == 4
        assert await insights.dismissals() == {CHILD: "link"}
        assert await insights.expire(before_minute=131) == 4
        assert await insights.dismissals() == {}  # its task is no longer measured
    finally:
        await database.dispose()


async def test_the_retention_sweep_forgets_numbers_older_than_the_window(
    make_settings: SettingsFactory,
) -> None:
    database = Database(make_settings().sqlalchemy_url())
    await database.migrate()
    try:
        store = Store(database)
        now = utcnow()
        minute = int(now.timestamp() // 60)
        await store.insights.record(_summaries("a"), minute=minute - 20, cap=10)
        await store.insights.record(_summaries("a"), minute=minute, cap=10)
        sweep = RetentionSweep(
            store.seen,
            retention_seconds=86_400,
            interval_seconds=600,
            clock=lambda: now,
            insights=store.insights,
            insight_window_seconds=900,
        )
        await sweep.sweep()
        assert await _rows(database) == 2  # two tasks, the current minute only
        assert set(await store.insights.window(since_minute=0)) == {CHILD, SPAWNER}
    finally:
        await database.dispose()

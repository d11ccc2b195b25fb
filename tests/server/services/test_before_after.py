"""Before and after a mode change: both sides of a task's latest change are kept past the insight
window (the retention sweep stores them before it deletes the rows), bounded to one comparison per
task, replaced by the next change, forgotten with the task and a day after the change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from hatchet_trace_flags_server.core.insight_bodies import InsightsIn
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.services.before_after import HORIZON, BeforeAfter
from hatchet_trace_flags_server.services.retention import RetentionSweep
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.store import Store

from hatchet_trace_flags.contract import Mode, RuleSet, TaskSummary
from tests.support.server.insight_reports import CHILD, SPAWNER, fan_out_report
from tests.support.server.live import SettingsFactory

WINDOW_SECONDS = 900.0  # 15 minutes a side


def _summaries(*, link: bool, max_delay: float) -> dict[str, TaskSummary]:
    body = InsightsIn.model_validate(fan_out_report("w", link=link, max_delay=max_delay))
    return {task.action_id: task.to_summary() for task in body.tasks}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def store(make_settings: SettingsFactory) -> AsyncIterator[Store]:
    database = Database(make_settings().sqlalchemy_url())
    await database.migrate()
    try:
        yield Store(database)
    finally:
        await database.dispose()


async def _change(store: Store, mode: Mode) -> tuple[datetime, int]:
    await store.writes.set_task(CHILD, mode, Author("alice", "api", "looking at it"))
    change = (await store.comparisons.mode_changes(datetime.now().astimezone() - timedelta(hours=1)))[-1]
    return change.at, int(change.at.timestamp() // 60)


async def test_both_sides_outlive_the_window_once_the_sweep_kept_them(store: Store) -> None:
    at, minute = await _change(store, "link")
    # Ten minutes in parent mode with late children before the change, five in link mode after it.
    for offset in range(-10, 0):
        await store.insights.record(_summaries(link=False, max_delay=4.2), minute=minute + offset, cap=10)
    await store.insights.record(_summaries(link=True, max_delay=9.9), minute=minute, cap=10)  # in neither
    for offset in range(1, 6):
        await store.insights.record(_summaries(link=True, max_delay=0.5), minute=minute + offset, cap=10)
    clock = Clock(at + timedelta(minutes=6))
    before_after = BeforeAfter(store.comparisons, store.insights, window_seconds=WINDOW_SECONDS, clock=clock)
    sweep = RetentionSweep(
        store.seen,
        retention_seconds=86_400,
        interval_seconds=600,
        clock=clock,
        insights=store.insights,
        insight_window_seconds=WINDOW_SECONDS,
        before_after=before_after,
    )

    shown = (await before_after.comparisons())[CHILD]  # computed from the live rows, nothing stored yet
    assert await store.comparisons.all() == []
    assert shown.change.from_mode is None
    assert shown.change.to_mode == "link"
    assert shown.change.actor == "alice"
    assert shown.change.note == "looking at it"
    assert shown.before is not None
    assert shown.after is not None
    assert (shown.before.runs, shown.before.mode, shown.before.from_minute) == (
        10 * 600,
        "parent",
        minute - 15,
    )
    assert (shown.after.runs, shown.after.mode, shown.after.to_minute) == (5 * 600, "link", minute + 7)
    assert not shown.after_complete
    assert shown.before.spawner_id == SPAWNER
    assert shown.before.spawner_seconds is not None
    assert shown.before.start_delay.high == pytest.approx(4.2)
    assert shown.after.start_delay.high == pytest.approx(0.5)
    assert shown.before.trace_open_seconds is not None
    assert shown.after.trace_open_seconds is not None
    assert shown.before.trace_open_seconds > 3.5  # spawner + late children, in parent mode
    assert shown.after.trace_open_seconds == pytest.approx(shown.after.spawner_seconds)  # link: the spawner

    # Long after: the sweep keeps both sides (the after side once its window has passed), then deletes
    # every row they were made of.
    clock.at = at + timedelta(minutes=23)
    await sweep.sweep()
    assert await store.insights.window(0) == {}
    kept = (await before_after.comparisons())[CHILD]
    assert kept.after_complete
    assert kept.before is not None
    assert kept.after is not None
    assert (kept.before.runs, kept.after.runs) == (10 * 600, 5 * 600)
    assert kept.before.trace_open_seconds == pytest.approx(shown.before.trace_open_seconds)
    assert len(await store.comparisons.all()) == 1

    # A day later it is gone.
    clock.at = at + HORIZON + timedelta(minutes=1)
    await sweep.sweep()
    assert await store.comparisons.all() == []
    assert await before_after.comparisons() == {}


async def test_the_next_change_replaces_it_and_its_before_side_starts_after_the_previous_change(
    store: Store,
) -> None:
    first_at, first = await _change(store, "link")
    await store.insights.record(_summaries(link=False, max_delay=4.2), minute=first - 1, cap=10)
    await store.insights.record(_summaries(link=True, max_delay=0.5), minute=first + 1, cap=10)
    clock = Clock(first_at + timedelta(minutes=2))
    before_after = BeforeAfter(store.comparisons, store.insights, window_seconds=WINDOW_SECONDS, clock=clock)
    assert await before_after.keep() == 1
    assert await before_after.keep() == 0  # nothing new to store

    second_at, second = await _change(store, "parent")
    clock.at = second_at + timedelta(minutes=1)
    compared = await before_after.comparisons()
    assert set(compared) == {CHILD}
    latest = compared[CHILD]
    assert (latest.change.from_mode, latest.change.to_mode) == ("link", "parent")
    # The before side starts after the first change's minute: the parent-mode rows before the first
    # change are not in it (with both changes a minute or less apart, nothing lies between them).
    if second > first + 1:
        assert latest.before is not None
        assert latest.before.from_minute == first + 1
        assert latest.before.mode == "link"
    else:
        assert latest.before is None
    await before_after.keep()
    stored = await store.comparisons.all()
    assert [row.change.to_mode for row in stored] == ["parent"]

    await store.insights.forget([CHILD])
    assert await store.comparisons.all() == []


async def test_an_import_is_a_change_of_every_task_whose_mode_it_changed(store: Store) -> None:
    await store.writes.set_task(SPAWNER, "parent", Author("bob", "api"))
    rules = RuleSet(tasks={CHILD: "link", SPAWNER: "parent"})
    await store.writes.import_rules(rules, Author("carol", "cli", "restore"))
    changes = await store.comparisons.mode_changes(datetime.now().astimezone() - timedelta(hours=1))
    [change] = [change for change in changes if change.actor == "carol"]  # the spawner kept its mode
    assert (change.action_id, change.actor, change.from_mode, change.to_mode) == (
        CHILD,
        "carol",
        None,
        "link",
    )


async def test_an_expiry_revert_is_a_change_named_after_who_set_it(store: Store) -> None:
    until = datetime.now().astimezone() + timedelta(minutes=30)
    await store.writes.set_task(CHILD, "link", Author("alice", "api", "for the incident"), until=until)
    assert await store.writes.revert_due(until + timedelta(seconds=1)) is not None
    changes = await store.comparisons.mode_changes(datetime.now().astimezone() - timedelta(hours=1))
    assert [(change.actor, change.from_mode, change.to_mode) for change in changes] == [
        ("alice", None, "link"),
        ("expiry:alice", "link", None),
    ]

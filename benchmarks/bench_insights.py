"""Fan-out insight on the service at its cap: 2,000 tasks x 15 minutes of rows (the defaults).

Times, in one process on SQLite: one worker report (100 tasks) merged into its minute; reading the
whole window (decode + merge, in a thread) and building every task's insight (what the dashboard page
and ``GET /api/v1/insights`` do); and the longest the event loop went without running a 1 ms ticker
during that read, which is what other requests (polls, health checks) would wait at most.

Then before and after (services/before_after.py), with every child task's mode changed by one import
(1,000 changes at once, the worst a day can hold per task): what the insight page adds while the changes
are recent (sides computed from the live rows), what the sweep's ``keep`` costs, and what the page adds
once every side is stored.

Run: ``python -m benchmarks.bench_insights`` (or ``python -m benchmarks insights``).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.services.before_after import BeforeAfter
from hatchet_trace_flags_server.services.insights import build_insights, current_minute
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.store import Store

from hatchet_trace_flags._fanout.stats import FanoutStats
from hatchet_trace_flags.contract import RuleSet, TaskSummary

TASKS = 2_000  # MAX_INSIGHT_TASKS
MINUTES = 15  # INSIGHT_WINDOW_SECONDS / 60
PER_REPORT = 100


def _summaries() -> dict[str, TaskSummary]:
    """Half spawners, half their children, every delay bucket from 1 ms to ~9 min used."""
    stats = FanoutStats(max_tasks=TASKS)
    for number in range(TASKS // 2):
        child = f"prod_fanout-{number}:process-item"
        for index in range(50):
            stats.child_started(child, 0.001 * 2 ** (index % 20), link=False, clamped=False)
            stats.run_ended(child, 0.01, was_child=True, children={})
        stats.run_ended(
            f"prod_api-{number}:spawn", 0.05, was_child=False, children={f"prod_fanout-{number}": 50}
        )
    tasks, _ = stats.take()
    return tasks


async def _max_stall(work: asyncio.Task[object]) -> float:
    longest, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def _run(directory: Path) -> None:
    database = Database(Settings(data_dir=directory).sqlalchemy_url())
    await database.migrate()
    insights = Store(database).insights
    items = list(_summaries().items())
    now = current_minute()
    report_seconds = []
    for minute in range(MINUTES):
        for start in range(0, len(items), PER_REPORT):
            began = time.perf_counter()
            await insights.record(dict(items[start : start + PER_REPORT]), minute=now - minute, cap=TASKS)
            report_seconds.append(time.perf_counter() - began)
    reads, builds, stalls = [], [], []
    for _ in range(3):
        began = time.perf_counter()
        reading = asyncio.create_task(insights.window(now - MINUTES + 1))
        stalls.append(await _max_stall(reading))
        summaries = await reading
        reads.append(time.perf_counter() - began)
        began = time.perf_counter()
        built = await asyncio.to_thread(build_insights, summaries, RuleSet(), {}, MINUTES * 60.0)
        builds.append(time.perf_counter() - began)
    store = Store(database)
    children = {action_id: "link" for action_id, _summary in items if action_id.endswith(":process-item")}
    await store.writes.import_rules(RuleSet(tasks=children), Author("bench", "bench"))  # type: ignore[arg-type]
    clock = _Clock()
    before_after = BeforeAfter(store.comparisons, insights, window_seconds=MINUTES * 60.0, clock=clock)
    recent = await _timed(before_after.comparisons)
    keep = await _timed(before_after.keep)
    clock.shift = 3600.0  # an hour later: every side complete and stored
    await before_after.keep()
    stored = await _timed(before_after.comparisons)
    compared = len(await before_after.comparisons())
    await database.dispose()
    report = statistics.median(report_seconds)
    read, build = statistics.median(reads), statistics.median(builds)
    recommended = sum(insight.out.recommendation is not None for insight in built)
    print(f"rows: {TASKS} tasks x {MINUTES} minutes; tasks with a recommendation: {recommended}")
    print(f"one report ({PER_REPORT} tasks) merged: {report * 1000:.1f} ms (p50)")
    print(
        f"read the window (decode + merge, in a thread): {read * 1000:.0f} ms = {read / report:.0f}x a report"
    )
    print(f"build every insight (in a thread): {build * 1000:.0f} ms = {build / read:.2f}x the read")
    print(f"longest event-loop stall during the read: {max(stalls) * 1000:.0f} ms")
    print(f"before/after, {compared} tasks changed by one import:")
    print(
        f"  page, changes recent (sides from live rows): {recent * 1000:.0f} ms"
        f" = {recent / read:.2f}x the read"
    )
    print(f"  sweep keep (compute + store every side): {keep * 1000:.0f} ms = {keep / read:.2f}x the read")
    print(f"  page, every side stored: {stored * 1000:.0f} ms = {stored / read:.2f}x the read")


class _Clock:
    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.shift)


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await work()
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_run(Path(directory)))


if __name__ == "__main__":
    main()

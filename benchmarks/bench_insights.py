"""Fan-out insight on the service at its cap: 2,000 tasks x 15 minutes of rows (the defaults).

Times, in one process on SQLite: one worker report (100 tasks) merged into its minute; reading the
whole window (decode + merge, in a thread) and building every task's insight (what the dashboard page
and ``GET /api/v1/insights`` do); and the longest the event loop went without running a 1 ms ticker
during that read, which is what other requests (polls, health checks) would wait at most.

Run: ``python -m benchmarks.bench_insights`` (or ``python -m benchmarks insights``).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from hatchet_trace_flags_server import Settings
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


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_run(Path(directory)))


if __name__ == "__main__":
    main()

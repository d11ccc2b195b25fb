"""Fan-out reports as workers build them: the worker library's own summaries and payload function."""

from __future__ import annotations

import time
from typing import Any

from hatchet_trace_flags._admin.insights import insights_payload
from hatchet_trace_flags._fanout.stats import FanoutStats

SPAWNER = "fanout-parent:spawn"
CHILD = "fanout-worker:process-item"
WORKFLOW = "fanout-worker"
# With ``traces``: each child's run is in trace CHILD_TRACES + its index, each spawning run in SPAWNER_TRACE.
CHILD_TRACES = 0x0AF7F1E5C417D0000000000000000000
SPAWNER_TRACE = 0x5BA3E4C0FFEE00000000000000000001


def latest_child_trace(children: int = 200) -> str:
    """The exemplar of a ``traces`` report: the child started last (the largest delay)."""
    return f"{CHILD_TRACES + children - 1:032x}"


def fan_out_report(
    worker: str,
    *,
    runs: int = 3,
    children: int = 200,
    spawner_seconds: float = 0.06,
    max_delay: float = 4.2,
    child_seconds: float = 0.01,
    traces: bool = False,
    link: bool = False,
) -> dict[str, Any]:
    """``runs`` spawning runs of ``children`` children each, their start delays spread up to ``max_delay``
    (started in link mode with ``link``); with ``traces``, with the trace ids that make the exemplars."""
    stats = FanoutStats()
    for _ in range(runs):
        for index in range(children):
            delay = max_delay * (index + 1) / children
            stats.child_started(CHILD, delay, link=link, clamped=False)
            trace_id = CHILD_TRACES + index if traces else 0
            stats.run_ended(CHILD, child_seconds, was_child=True, children={}, trace_id=trace_id, delay=delay)
        stats.run_ended(
            SPAWNER,
            spawner_seconds,
            was_child=False,
            children={WORKFLOW: children},
            trace_id=SPAWNER_TRACE if traces else 0,
        )
    tasks, dropped = stats.take()
    now = time.time()
    return insights_payload(worker, tasks, start=now - 5, end=now, dropped=dropped)


def many_tasks_report(worker: str, prefix: str, tasks: int) -> dict[str, Any]:
    """One report of ``tasks`` distinct spawners (``{prefix}:task-N``), each with one run of two children."""
    stats = FanoutStats()
    for index in range(tasks):
        stats.run_ended(f"{prefix}:task-{index:03d}", 0.01, was_child=False, children={WORKFLOW: 2})
    summaries, dropped = stats.take()
    now = time.time()
    return insights_payload(worker, summaries, start=now - 5, end=now, dropped=dropped)

"""Fan-out reports as workers build them: the worker library's own summaries and payload function."""

from __future__ import annotations

import time
from typing import Any

from hatchet_trace_flags._admin.insights import insights_payload
from hatchet_trace_flags._fanout.stats import FanoutStats

SPAWNER = "fanout-parent:spawn"
CHILD = "fanout-worker:process-item"
WORKFLOW = "fanout-worker"


def fan_out_report(
    worker: str,
    *,
    runs: int = 3,
    children: int = 200,
    spawner_seconds: float = 0.06,
    max_delay: float = 4.2,
    child_seconds: float = 0.01,
) -> dict[str, Any]:
    """``runs`` spawning runs of ``children`` children each, their start delays spread up to ``max_delay``."""
    stats = FanoutStats()
    for _ in range(runs):
        for index in range(children):
            delay = max_delay * (index + 1) / children
            stats.child_started(CHILD, delay, link=False, clamped=False)
            stats.run_ended(CHILD, child_seconds, was_child=True, children={})
        stats.run_ended(SPAWNER, spawner_seconds, was_child=False, children={WORKFLOW: children})
    tasks, dropped = stats.take()
    now = time.time()
    return insights_payload(worker, tasks, start=now - 5, end=now, dropped=dropped)

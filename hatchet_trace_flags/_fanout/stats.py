"""The fan-out summaries of this process, per ``action_id``, kept until the next report takes them.

Memory is fixed per task (the summaries' histograms hold bucket counts, no samples) and the number of tasks
is capped per report interval: a worker that sees a stream of distinct action_ids drops the newest and
counts them. The report ``take``s the summaries gathered since the last one (delta semantics) and
``restore``s them when sending failed.

Recording happens once per task start and end (never per trigger), on the worker's event loop; the report
thread takes the summaries: a short lock between the two.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Final

from hatchet_trace_flags.contract import ChildSide, Exemplar, SpawnerSide, TaskSummary

__all__ = ["MAX_TASKS", "FanoutStats", "summaries"]

MAX_TASKS: Final = 1000  # action_ids tracked per report interval


class FanoutStats:
    """The summaries of one process, per action_id, since the last ``take``."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self._max_tasks = max_tasks
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskSummary] = {}
        self.dropped = 0  # runs not summarised because MAX_TASKS other tasks were tracked already

    def _summary(self, action_id: str) -> TaskSummary | None:
        summary = self._tasks.get(action_id)
        if summary is None:
            if len(self._tasks) >= self._max_tasks:
                self.dropped += 1
                return None
            summary = self._tasks[action_id] = TaskSummary()
        return summary

    def child_started(self, action_id: str, delay: float, *, link: bool, clamped: bool) -> None:
        with self._lock:
            summary = self._summary(action_id)
            if summary is None:
                return
            child = summary.child
            if child is None:
                child = summary.child = ChildSide()
            child.runs += 1
            if link:
                child.link += 1
            else:
                child.parent += 1
            if clamped:
                child.clamped += 1
            child.start_delay.record(delay)

    def run_ended(
        self,
        action_id: str,
        duration: float,
        *,
        was_child: bool,
        children: Mapping[str, int],
        trace_id: int = 0,
        delay: float | None = None,
    ) -> None:
        """A run ended: its duration (as a child and/or a spawner) and the children it triggered. With its
        (exported) ``trace_id``, it becomes its side's exemplar if it started later (``delay``) or held its
        trace longer than the one kept."""
        with self._lock:
            summary = self._tasks.get(action_id) if not children else self._summary(action_id)
            if summary is None:
                return
            child = summary.child
            if was_child and child is not None:
                child.duration.record(duration)
                if (
                    trace_id
                    and delay is not None
                    and (child.exemplar is None or delay > child.exemplar.seconds)
                ):
                    child.exemplar = Exemplar(format(trace_id, "032x"), delay)
            if children:
                spawner = summary.spawner
                if spawner is None:
                    spawner = summary.spawner = SpawnerSide()
                spawner.runs += 1
                spawner.children.record(sum(children.values()))
                for workflow, count in children.items():
                    spawner.add_children(workflow, count)
                spawner.duration.record(duration)
                if trace_id and (spawner.exemplar is None or duration > spawner.exemplar.seconds):
                    spawner.exemplar = Exemplar(format(trace_id, "032x"), duration)

    def take(self) -> tuple[dict[str, TaskSummary], int]:
        """The summaries since the last take, and how many runs were dropped; starts afresh."""
        with self._lock:
            tasks, self._tasks = self._tasks, {}
            dropped, self.dropped = self.dropped, 0
            return tasks, dropped

    def restore(self, tasks: Mapping[str, TaskSummary], dropped: int = 0) -> None:
        """Put back what a failed report took, merged with what was recorded since (still capped)."""
        with self._lock:
            self.dropped += dropped
            for action_id, taken in tasks.items():
                summary = self._summary(action_id)
                if summary is not None:
                    summary.merge(taken)

    def after_fork(self) -> None:
        # The parent's summaries are the parent's to report; a lock may have been copied while held.
        self._lock = threading.Lock()
        self._tasks = {}
        self.dropped = 0


# One per process: the instrumentor records into it, the admin service follower reports from it.
summaries: Final = FanoutStats()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=summaries.after_fork)

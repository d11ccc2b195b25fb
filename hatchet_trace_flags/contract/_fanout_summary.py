"""Bounded, mergeable fan-out summaries per ``action_id``, kept until the next report takes them.

Two sides of every spawn are summarised, per task:

- as a **child** (a run that carried a spawn stamp, see ``_spawn_stamp``): how many started, in which mode,
  how long after the spawn each started (the queue and rate-limit delay), and how long each ran;
- as a **spawner** (a run that triggered at least one run): children per run, children per child workflow,
  and how long the spawning runs took.

Memory is fixed per task (log-spaced bucket counts, no samples) and the number of tasks is capped per
report interval: a worker that sees a stream of distinct action_ids drops the newest and counts them.
Histograms merge by adding buckets, so summaries from many workers and intervals add up exactly; the
report ``take``s the summaries gathered since the last one (delta semantics) and ``restore``s them when
sending failed.

Recording happens once per task start and end (never per trigger), on the worker's event loop; the report
thread takes the summaries: a short lock between the two.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CHILDREN_BOUNDS",
    "SECONDS_BOUNDS",
    "ChildSide",
    "FanoutStats",
    "Histogram",
    "SpawnerSide",
    "TaskSummary",
    "summaries",
]

# 100 µs doubling up to ~30 h (31 bounds, 32 buckets): seconds-scale delays land in well-resolved buckets.
SECONDS_BOUNDS: Final[tuple[float, ...]] = tuple(round(1e-4 * 2.0**k, 10) for k in range(31))
# 1 child doubling up to 2**20 (21 bounds, 22 buckets).
CHILDREN_BOUNDS: Final[tuple[float, ...]] = tuple(float(2**k) for k in range(21))
MAX_TASKS: Final = 1000  # action_ids tracked per report interval
MAX_WORKFLOWS_PER_TASK: Final = 32  # child workflows named per spawner; the rest count under OTHER
OTHER: Final = "_other"


@dataclass(slots=True)
class Histogram:
    """Counts in fixed buckets: bucket ``i`` holds values ``v`` with ``bounds[i-1] < v <= bounds[i]``
    (OpenTelemetry's explicit-bucket convention), the last one everything above the last bound."""

    bounds: tuple[float, ...]
    buckets: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not self.buckets:
            self.buckets = [0] * (len(self.bounds) + 1)

    def record(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        if self.count == 0 or value < self.low:
            self.low = value
        if self.count == 0 or value > self.high:
            self.high = value
        self.count += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        if other.bounds != self.bounds:
            raise ValueError("histograms with different bounds do not merge")
        if other.count == 0:
            return
        for index, count in enumerate(other.buckets):
            self.buckets[index] += count
        self.low = other.low if self.count == 0 else min(self.low, other.low)
        self.high = other.high if self.count == 0 else max(self.high, other.high)
        self.count += other.count
        self.total += other.total

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum": self.total,
            "min": self.low,
            "max": self.high,
            "buckets": list(self.buckets),
        }


def _seconds() -> Histogram:
    return Histogram(SECONDS_BOUNDS)


@dataclass(slots=True)
class ChildSide:
    runs: int = 0
    link: int = 0
    parent: int = 0
    clamped: int = 0  # the stamp was later than the start (clock skew): recorded as a 0 s delay
    start_delay: Histogram = field(default_factory=_seconds)
    duration: Histogram = field(default_factory=_seconds)

    def merge(self, other: ChildSide) -> None:
        self.runs += other.runs
        self.link += other.link
        self.parent += other.parent
        self.clamped += other.clamped
        self.start_delay.merge(other.start_delay)
        self.duration.merge(other.duration)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "link": self.link,
            "parent": self.parent,
            "clamped": self.clamped,
            "start_delay": self.start_delay.to_json(),
            "duration": self.duration.to_json(),
        }


@dataclass(slots=True)
class SpawnerSide:
    runs: int = 0
    children: Histogram = field(default_factory=lambda: Histogram(CHILDREN_BOUNDS))
    by_workflow: dict[str, int] = field(default_factory=dict)
    duration: Histogram = field(default_factory=_seconds)

    def add_children(self, workflow: str, count: int) -> None:
        if workflow not in self.by_workflow and len(self.by_workflow) >= MAX_WORKFLOWS_PER_TASK:
            workflow = OTHER
        self.by_workflow[workflow] = self.by_workflow.get(workflow, 0) + count

    def merge(self, other: SpawnerSide) -> None:
        self.runs += other.runs
        self.children.merge(other.children)
        for workflow, count in other.by_workflow.items():
            self.add_children(workflow, count)
        self.duration.merge(other.duration)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "children": self.children.to_json(),
            "by_workflow": dict(self.by_workflow),
            "duration": self.duration.to_json(),
        }


@dataclass(slots=True)
class TaskSummary:
    child: ChildSide | None = None
    spawner: SpawnerSide | None = None

    def merge(self, other: TaskSummary) -> None:
        if other.child is not None:
            if self.child is None:
                self.child = ChildSide()
            self.child.merge(other.child)
        if other.spawner is not None:
            if self.spawner is None:
                self.spawner = SpawnerSide()
            self.spawner.merge(other.spawner)

    def to_json(self, action_id: str) -> dict[str, Any]:
        document: dict[str, Any] = {"action_id": action_id}
        if self.child is not None:
            document["child"] = self.child.to_json()
        if self.spawner is not None:
            document["spawner"] = self.spawner.to_json()
        return document


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
        self, action_id: str, duration: float, *, was_child: bool, children: Mapping[str, int]
    ) -> None:
        """A run ended: its duration (as a child and/or a spawner) and the children it triggered."""
        with self._lock:
            summary = self._tasks.get(action_id) if not children else self._summary(action_id)
            if summary is None:
                return
            if was_child and summary.child is not None:
                summary.child.duration.record(duration)
            if children:
                spawner = summary.spawner
                if spawner is None:
                    spawner = summary.spawner = SpawnerSide()
                spawner.runs += 1
                spawner.children.record(sum(children.values()))
                for workflow, count in children.items():
                    spawner.add_children(workflow, count)
                spawner.duration.record(duration)

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

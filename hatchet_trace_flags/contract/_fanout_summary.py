"""The fan-out report's summaries, per ``action_id``: what a worker sends and the service adds up.

Two sides of every spawn are summarised, per task:

- as a **child** (a run that carried a spawn stamp): how many started, in which mode, how long after the
  spawn each started (the queue and rate-limit delay), and how long each ran;
- as a **spawner** (a run that triggered at least one run): children per run, children per child workflow,
  and how long the spawning runs took.

Histograms hold log-spaced bucket counts over fixed bounds (``SECONDS_BOUNDS``, ``CHILDREN_BOUNDS``), no
samples, and merge by adding buckets, so summaries from many workers and intervals add up exactly.
``to_json`` is the report's wire form (docs/insight.md).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CHILDREN_BOUNDS",
    "MAX_WORKFLOWS_PER_TASK",
    "OTHER",
    "SECONDS_BOUNDS",
    "ChildSide",
    "Histogram",
    "SpawnerSide",
    "TaskSummary",
]

# 100 µs doubling up to ~30 h (31 bounds, 32 buckets): seconds-scale delays land in well-resolved buckets.
SECONDS_BOUNDS: Final[tuple[float, ...]] = tuple(round(1e-4 * 2.0**k, 10) for k in range(31))
# 1 child doubling up to 2**20 (21 bounds, 22 buckets).
CHILDREN_BOUNDS: Final[tuple[float, ...]] = tuple(float(2**k) for k in range(21))
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

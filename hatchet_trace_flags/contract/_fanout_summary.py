"""The fan-out report's summaries, per ``action_id``: what a worker sends and the service adds up.

Two sides of every spawn are summarised, per task:

- as a **child** (a run that carried a spawn stamp): how many started, in which mode, how long after the
  spawn each started (the queue and rate-limit delay), and how long each ran;
- as a **spawner** (a run that triggered at least one run): children per run, children per child workflow,
  and how long the spawning runs took.

Histograms hold log-spaced bucket counts over fixed bounds (``SECONDS_BOUNDS``, ``CHILDREN_BOUNDS``), no
samples, and merge by adding buckets, so summaries from many workers and intervals add up exactly.

Each side also keeps one **exemplar**, a trace worth opening: the child that started latest after its spawn,
the spawning run that held its trace longest (its trace id, 32 lowercase hex digits, and that many seconds).
Merging keeps the larger, so a summary holds at most one per side however much it adds up.
``to_json`` is the report's wire form (docs/insight.md).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CHILDREN_BOUNDS",
    "MAX_WORKFLOWS_PER_TASK",
    "OTHER",
    "SECONDS_BOUNDS",
    "ChildSide",
    "Exemplar",
    "Histogram",
    "SpawnerSide",
    "TaskSummary",
    "exemplar_from_json",
    "is_trace_id",
]

# 100 µs doubling up to ~30 h (31 bounds, 32 buckets): seconds-scale delays land in well-resolved buckets.
SECONDS_BOUNDS: Final[tuple[float, ...]] = tuple(round(1e-4 * 2.0**k, 10) for k in range(31))
# 1 child doubling up to 2**20 (21 bounds, 22 buckets).
CHILDREN_BOUNDS: Final[tuple[float, ...]] = tuple(float(2**k) for k in range(21))
MAX_WORKFLOWS_PER_TASK: Final = 32  # child workflows named per spawner; the rest count under OTHER
OTHER: Final = "_other"
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
_INVALID_TRACE_ID: Final = "0" * 32


def is_trace_id(value: object) -> bool:
    """A W3C trace id as backends print it: 32 lowercase hex digits, not all zero."""
    return isinstance(value, str) and _TRACE_ID.fullmatch(value) is not None and value != _INVALID_TRACE_ID


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One trace worth opening, and the seconds that made it one (a start delay, a spawner's duration)."""

    trace_id: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "seconds": self.seconds}


def exemplar_from_json(document: object) -> Exemplar | None:
    """The exemplar a report or a stored row carries, or None when it carries none or no valid one."""
    if not isinstance(document, dict):
        return None
    trace_id, seconds = document.get("trace_id"), document.get("seconds")
    if not is_trace_id(trace_id) or isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not 0 <= seconds <= 1e12:  # also refuses NaN
        return None
    return Exemplar(str(trace_id), float(seconds))


def _larger(mine: Exemplar | None, theirs: Exemplar | None) -> Exemplar | None:
    if theirs is None or (mine is not None and mine.seconds >= theirs.seconds):
        return mine
    return theirs


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
    exemplar: Exemplar | None = None  # the child that started latest after its spawn

    def merge(self, other: ChildSide) -> None:
        self.runs += other.runs
        self.link += other.link
        self.parent += other.parent
        self.clamped += other.clamped
        self.start_delay.merge(other.start_delay)
        self.duration.merge(other.duration)
        self.exemplar = _larger(self.exemplar, other.exemplar)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "runs": self.runs,
            "link": self.link,
            "parent": self.parent,
            "clamped": self.clamped,
            "start_delay": self.start_delay.to_json(),
            "duration": self.duration.to_json(),
        }
        if self.exemplar is not None:
            document["exemplar"] = self.exemplar.to_json()
        return document


@dataclass(slots=True)
class SpawnerSide:
    runs: int = 0
    children: Histogram = field(default_factory=lambda: Histogram(CHILDREN_BOUNDS))
    by_workflow: dict[str, int] = field(default_factory=dict)
    duration: Histogram = field(default_factory=_seconds)
    exemplar: Exemplar | None = None  # the spawning run that held its trace longest

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
        self.exemplar = _larger(self.exemplar, other.exemplar)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "runs": self.runs,
            "children": self.children.to_json(),
            "by_workflow": dict(self.by_workflow),
            "duration": self.duration.to_json(),
        }
        if self.exemplar is not None:
            document["exemplar"] = self.exemplar.to_json()
        return document


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

"""Before and after a mode change (docs/insight.md, "Before and after"): for a task whose stored mode
changed (by hand, by an applied recommendation, by an import or by an expiry's revert: any task write
the audit log records), the spawner's trace-open time and the child start delays over the insight
window before the change versus the window after it.

The per-minute rows go when they leave the insight window, so each side is kept as one merged
document per task (the task's summary and its main spawner's), written by the retention sweep before
it deletes rows. What is kept, and why that bound:

* only each task's **latest** change (a later one replaces it): one row per task, at most
  ``MAX_INSIGHT_TASKS`` rows, each two merged summaries (a few kB), whatever the traffic;
* each side covers at most the insight window (15 min by default): the same amount of data the
  insight page judges a task by, so the two sides compare like with like. The before side starts no
  earlier than the previous change, so it never mixes two modes; the change's own minute is in
  neither side (its rows hold runs of both modes);
* comparisons of changes older than ``HORIZON`` (a day) are deleted: the question "did the change
  help" is asked in the hours after it, and a day keeps the audit-log read of each sweep small.

The sweep runs before the rows of a side leave the window, whatever its interval: rows are deleted one
window after their minute, and the sweep stores a side before deleting anything (a side is complete once
the window after the change has passed). Pages compute the sides that are not complete yet from the
live rows the same way, so a change shows at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from hatchet_trace_flags.contract import Histogram, TaskSummary
from hatchet_trace_flags_server.store.comparisons import ComparisonRow, ComparisonStore, ModeChange
from hatchet_trace_flags_server.store.insights import InsightStore, summary_from_json
from hatchet_trace_flags_server.store.schema import utcnow

from .insights import MINUTE, children_by_workflow, quantile, spawned_by_index

__all__ = ["HORIZON", "BeforeAfter", "Comparison", "Side"]

HORIZON: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a change, from the merged numbers of its minutes."""

    from_minute: int
    to_minute: int  # exclusive
    spawner_id: str | None  # the main spawner over these minutes
    runs: int
    link: int
    parent: int
    start_delay: Histogram
    start_delay_p50: float
    start_delay_p95: float
    spawner_seconds: float | None  # the main spawner's duration p50
    trace_open_seconds: float | None  # the spawner's trace, in the mode most children started in

    @property
    def mode(self) -> str:
        return "link" if self.link > self.parent else "parent"


@dataclass(frozen=True, slots=True)
class Comparison:
    change: ModeChange
    before: Side | None  # None: no child runs measured before the change (within the window)
    after: Side | None
    after_complete: bool  # the whole window after the change has passed


def _minute(at: datetime) -> int:
    return int(at.timestamp() // MINUTE)


def _side_document(
    action_id: str,
    summaries: Mapping[str, TaskSummary],
    index: Mapping[str, list[tuple[str, int]]],
    lo: int,
    hi: int,
) -> dict[str, Any] | None:
    summary = summaries.get(action_id)
    if summary is None or summary.child is None:
        return None
    found = spawned_by_index(action_id, index)
    spawner_id = found[0].action_id if found else None
    spawner = summaries[spawner_id].spawner if spawner_id is not None else None
    task = TaskSummary(child=summary.child).to_json("")
    del task["action_id"]
    return {
        "from_minute": lo,
        "to_minute": hi,
        "task": task,
        "spawner_id": spawner_id,
        "spawner": spawner.to_json() if spawner is not None else None,
    }


def side_of(document: Mapping[str, Any] | None) -> Side | None:
    """A stored side back into its numbers."""
    if document is None:
        return None
    child = summary_from_json(document["task"]).child
    if child is None:
        return None
    spawner = summary_from_json({"spawner": document["spawner"]}).spawner if document.get("spawner") else None
    p95 = quantile(child.start_delay, 0.95)
    spawner_seconds = quantile(spawner.duration, 0.5) if spawner is not None else None
    trace_open = None
    if spawner_seconds is not None:
        trace_open = spawner_seconds
        if child.link <= child.parent:  # parent mode: the spawner's trace ends when its late children do
            trace_open += p95 + quantile(child.duration, 0.95)
    return Side(
        from_minute=int(document["from_minute"]),
        to_minute=int(document["to_minute"]),
        spawner_id=document.get("spawner_id"),
        runs=child.runs,
        link=child.link,
        parent=child.parent,
        start_delay=child.start_delay,
        start_delay_p50=quantile(child.start_delay, 0.5),
        start_delay_p95=p95,
        spawner_seconds=spawner_seconds,
        trace_open_seconds=trace_open,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A change whose sides are (re)computed: from the rows of ``before`` (unless kept) and ``after``."""

    change: ModeChange
    row: ComparisonRow | None  # as stored
    kept_before: Mapping[str, Any] | None
    before: tuple[int, int]
    after: tuple[int, int]


def _compute(
    plans: list[_Plan], reads: Mapping[tuple[int, int], dict[str, TaskSummary]], now_minute: int
) -> list[ComparisonRow]:
    indexes = {span: children_by_workflow(summaries) for span, summaries in reads.items()}
    rows = []
    for plan in plans:
        action_id = plan.change.action_id
        before = plan.kept_before
        if before is None:
            before = _side_document(action_id, reads[plan.before], indexes[plan.before], *plan.before)
        lo, hi = plan.after
        after = _side_document(action_id, reads[plan.after], indexes[plan.after], lo, min(hi, now_minute + 1))
        rows.append(ComparisonRow(plan.change, before, after, now_minute >= hi))
    return rows


class BeforeAfter:
    """Keeps and compares the numbers around each task's latest mode change."""

    def __init__(
        self,
        comparisons: ComparisonStore,
        insights: InsightStore,
        *,
        window_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._comparisons = comparisons
        self._insights = insights
        self._window_minutes = max(1, math.ceil(window_seconds / MINUTE))
        self._clock = clock

    async def _rows(self) -> tuple[list[ComparisonRow], list[ComparisonRow]]:
        """Every task's latest change in the horizon as a row: (all of them, the ones that changed)."""
        now = self._clock()
        now_minute = _minute(now)
        latest: dict[str, ModeChange] = {}
        previous: dict[str, ModeChange] = {}
        for change in await self._comparisons.mode_changes(now - HORIZON):
            if change.action_id in latest:
                previous[change.action_id] = latest[change.action_id]
            latest[change.action_id] = change
        stored = {row.change.action_id: row for row in await self._comparisons.all()}
        rows, plans = [], []
        for action_id, change in latest.items():
            row = stored.get(action_id)
            same = row is not None and row.change.revision == change.revision
            if row is not None and same and row.after_complete:
                rows.append(row)
                continue
            minute = _minute(change.at)
            lo = minute - self._window_minutes
            if action_id in previous:
                lo = max(lo, _minute(previous[action_id].at) + 1)
            kept_before = row.before if row is not None and same else None
            plans.append(
                _Plan(change, row, kept_before, (lo, minute), (minute + 1, minute + 1 + self._window_minutes))
            )
        # One read per distinct range (an import's changes share theirs), then the merging off the loop.
        ranges = {plan.after for plan in plans} | {plan.before for plan in plans if plan.kept_before is None}
        reads = {span: await self._insights.window(*span) for span in sorted(ranges)}
        fresh = await asyncio.to_thread(_compute, plans, reads, now_minute)
        changed = [new for plan, new in zip(plans, fresh, strict=True) if new != plan.row]
        return rows + fresh, changed

    async def keep(self) -> int:
        """Store the sides of recent changes (the retention sweep, before it deletes rows) and forget
        comparisons past the horizon; returns how many comparisons were written."""
        _rows, changed = await self._rows()
        await self._comparisons.save(changed)
        await self._comparisons.expire(self._clock() - HORIZON)
        return len(changed)

    async def comparisons(self) -> dict[str, Comparison]:
        """action_id -> its latest change in the horizon, with both sides as far as measured."""
        rows, _changed = await self._rows()
        return await asyncio.to_thread(_comparisons, rows)


def _comparisons(rows: list[ComparisonRow]) -> dict[str, Comparison]:
    return {
        row.change.action_id: Comparison(
            row.change, side_of(row.before), side_of(row.after), row.after_complete
        )
        for row in rows
    }

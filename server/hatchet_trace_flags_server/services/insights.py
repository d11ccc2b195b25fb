"""Fan-out insight, the service layer: adds up workers' reports, joins children to the tasks that
spawn them, and recommends link mode where the numbers say a parent trace is held open by its
children (docs/insight.md, "The recommendation").

The rule, for a task whose runs are spawned by another task's runs:

* its spawner triggered at least ``MIN_CHILDREN_PER_RUN`` runs per run (p50), in at least
  ``MIN_SPAWNER_RUNS`` spawning runs, and
* those children started late: start delay p95 >= ``MIN_START_DELAY_SECONDS`` and
  >= ``DELAY_FACTOR`` x the spawner's own duration (p50),
* and the task is not in link mode already.

Then the spawner's trace, in parent mode, stays open for about spawner p50 + start delay p95 + child
duration p95 instead of the spawner's p50, and most of that is waiting, not work.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hatchet_trace_flags.contract import Exemplar, Histogram, Mode, RuleSet, TaskSummary, validate_action_id
from hatchet_trace_flags_server.core.insight_bodies import (
    ChildOut,
    ExamplesOut,
    ExemplarOut,
    InsightsIn,
    InsightsOut,
    Quantiles,
    RecommendationOut,
    SpawnedByOut,
    SpawnerOut,
    TaskInsightOut,
    TraceOpenOut,
)
from hatchet_trace_flags_server.core.presenters import human_seconds
from hatchet_trace_flags_server.core.ratelimit import RateLimiter
from hatchet_trace_flags_server.core.settings import trace_url
from hatchet_trace_flags_server.store.insights import InsightStore

__all__ = [
    "DELAY_FACTOR",
    "MIN_CHILDREN_PER_RUN",
    "MIN_SPAWNER_RUNS",
    "MIN_START_DELAY_SECONDS",
    "Insight",
    "InsightService",
    "build_insights",
    "children_by_workflow",
    "current_minute",
    "quantile",
    "spawned_by_index",
]

MIN_CHILDREN_PER_RUN: Final = 10
MIN_SPAWNER_RUNS: Final = 3
MIN_START_DELAY_SECONDS: Final = 0.1
DELAY_FACTOR: Final = 4.0
logger = logging.getLogger("hatchet_trace_flags_server")

MINUTE: Final = 60


@dataclass(frozen=True, slots=True)
class Insight:
    out: TaskInsightOut
    start_delay: Histogram | None  # for the dashboard's picture


def quantile(histogram: Histogram, q: float) -> float:
    """The ``q`` quantile from the buckets, interpolated linearly inside its bucket (as Prometheus'
    ``histogram_quantile`` does) between the bucket's bounds narrowed to the recorded min and max.
    Exact for a single value; within the bucket (a factor of 2 with doubling bounds) otherwise."""
    if histogram.count == 0:
        return 0.0
    rank = q * histogram.count
    cumulative = 0
    for index, count in enumerate(histogram.buckets):
        if count and cumulative + count >= rank:
            lower = histogram.bounds[index - 1] if index > 0 else 0.0
            upper = histogram.bounds[index] if index < len(histogram.bounds) else histogram.high
            lower, upper = max(lower, histogram.low), min(upper, histogram.high)
            return lower + (upper - lower) * max(0.0, rank - cumulative) / count
        cumulative += count
    return histogram.high


def _quantiles(histogram: Histogram) -> Quantiles:
    return Quantiles(p50=quantile(histogram, 0.5), p95=quantile(histogram, 0.95), max=histogram.high)


def children_by_workflow(summaries: Mapping[str, TaskSummary]) -> dict[str, list[tuple[str, int]]]:
    """workflow name (case-folded) -> [(spawner action_id, children)], to join children in one lookup."""
    index: dict[str, list[tuple[str, int]]] = {}
    for spawner_id, summary in summaries.items():
        if summary.spawner is not None:
            for workflow, count in summary.spawner.by_workflow.items():
                index.setdefault(workflow.lower(), []).append((spawner_id, count))
    return index


def spawned_by_index(action_id: str, index: Mapping[str, list[tuple[str, int]]]) -> list[SpawnedByOut]:
    # A child's action_id is "{namespace}{workflow lowercased}:{task}", and Hatchet's namespaces end
    # in "_". The spawner names the workflow as it passed it: with the namespace, or without.
    prefix = action_id.split(":", 1)[0]
    names = [prefix] + [prefix[at + 1 :] for at, character in enumerate(prefix) if character == "_"]
    totals: dict[str, int] = {}
    for name in dict.fromkeys(names):
        for spawner_id, count in index.get(name, ()):
            totals[spawner_id] = totals.get(spawner_id, 0) + count
    found = [SpawnedByOut(action_id=spawner_id, children=count) for spawner_id, count in totals.items()]
    found.sort(key=lambda item: (-item.children, item.action_id))
    return found


def _recommend(
    child: ChildOut, spawner: SpawnerOut, effective_mode: str, dismissed_mode: str | None
) -> RecommendationOut | None:
    if effective_mode == "link":
        return None
    delay = child.start_delay_seconds
    spawner_p50 = spawner.duration_seconds.p50
    if (
        spawner.runs >= MIN_SPAWNER_RUNS
        and spawner.children_per_run.p50 >= MIN_CHILDREN_PER_RUN
        and delay.p95 >= MIN_START_DELAY_SECONDS
        and delay.p95 >= DELAY_FACTOR * spawner_p50
    ):
        reason = (
            f"link recommended: \N{MULTIPLICATION SIGN}{round(spawner.children_per_run_mean)} children "
            f"per run, started up to {human_seconds(delay.max)} after a {human_seconds(spawner_p50)} spawner"
        )
        return RecommendationOut(mode="link", reason=reason, dismissed=dismissed_mode == "link")
    return None


def _exemplar(exemplar: Exemplar | None, template: str | None) -> ExemplarOut | None:
    if exemplar is None:
        return None
    return ExemplarOut(
        trace_id=exemplar.trace_id, seconds=exemplar.seconds, url=trace_url(template, exemplar.trace_id)
    )


def _examples(
    summary: TaskSummary, main_spawner: TaskSummary | None, template: str | None
) -> ExamplesOut | None:
    """A child's card links its main spawner's longest-held trace and its own latest-starting one."""
    spawning = main_spawner.spawner if main_spawner is not None else summary.spawner
    examples = ExamplesOut(
        spawner_trace=_exemplar(spawning.exemplar if spawning is not None else None, template),
        child_trace=_exemplar(summary.child.exemplar if summary.child is not None else None, template),
    )
    return examples if examples.spawner_trace or examples.child_trace else None


def build_insights(
    summaries: Mapping[str, TaskSummary],
    rules: RuleSet,
    dismissals: Mapping[str, str],
    window_seconds: float,
    trace_url_template: str | None = None,
) -> list[Insight]:
    """One insight per task that has numbers, sorted by action_id."""
    spawners = {
        action_id: SpawnerOut(
            runs=summary.spawner.runs,
            children_per_run=_quantiles(summary.spawner.children),
            children_per_run_mean=summary.spawner.children.total / max(summary.spawner.children.count, 1),
            duration_seconds=_quantiles(summary.spawner.duration),
            by_workflow=dict(summary.spawner.by_workflow),
        )
        for action_id, summary in summaries.items()
        if summary.spawner is not None
    }
    index = children_by_workflow(summaries)
    insights = []
    for action_id in sorted(summaries):
        summary = summaries[action_id]
        child = None
        if summary.child is not None:
            side = summary.child
            child = ChildOut(
                runs=side.runs,
                link=side.link,
                parent=side.parent,
                clamped=side.clamped,
                start_delay_seconds=_quantiles(side.start_delay),
                duration_seconds=_quantiles(side.duration),
            )
        spawned_by = spawned_by_index(action_id, index) if child is not None else []
        effective_mode = rules.evaluate(action_id).mode
        trace_open = recommendation = None
        if child is not None and spawned_by:
            main = spawners[spawned_by[0].action_id]
            spawner_p50 = main.duration_seconds.p50
            trace_open = TraceOpenOut(
                parent_seconds=spawner_p50 + child.start_delay_seconds.p95 + child.duration_seconds.p95,
                link_seconds=spawner_p50,
            )
            recommendation = _recommend(child, main, effective_mode, dismissals.get(action_id))
        out = TaskInsightOut(
            action_id=action_id,
            effective_mode=effective_mode,
            window_seconds=window_seconds,
            child=child,
            spawner=spawners.get(action_id),
            spawned_by=spawned_by,
            trace_open=trace_open,
            recommendation=recommendation,
            examples=_examples(
                summary, summaries[spawned_by[0].action_id] if spawned_by else None, trace_url_template
            ),
        )
        insights.append(Insight(out, summary.child.start_delay if summary.child is not None else None))
    return insights


def current_minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // MINUTE)


class InsightService:
    """Fan-out reports in, insights out: what the API and the dashboard call (never the store)."""

    def __init__(
        self,
        store: InsightStore,
        *,
        rules: Callable[[], RuleSet],
        report_limiter: RateLimiter,
        window_seconds: float,
        max_tasks: int,
        trace_url_template: str | None = None,
        on_refused_exemplars: Callable[[int], object] = lambda count: None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._report_limiter = report_limiter
        self.window_seconds = window_seconds
        self._max_tasks = max_tasks
        self.trace_url_template = trace_url_template
        self._on_refused_exemplars = on_refused_exemplars

    async def report(self, reporter: str, body: InsightsIn) -> InsightsOut:
        """Add a worker's delta to the current minute of each task it names, charged to
        ``reporter`` (its token's name) like reports of discovered tasks: one budget for both."""
        self._report_limiter.take(reporter, max(1, len(body.tasks)))
        summaries: dict[str, TaskSummary] = {}
        for index, task in enumerate(body.tasks):
            validate_action_id(task.action_id, field=f"tasks[{index}].action_id")
            summary = task.to_summary()
            if task.action_id in summaries:
                summaries[task.action_id].merge(summary)
            else:
                summaries[task.action_id] = summary
        result = await self._store.record(summaries, minute=current_minute(), cap=self._max_tasks)
        refused = sum(task.refused_exemplars for task in body.tasks)
        if refused:
            self._on_refused_exemplars(refused)
        return InsightsOut(
            recorded=result.recorded, ignored=result.ignored or None, exemplars_refused=refused or None
        )

    async def load(self) -> list[Insight]:
        """Every measured task's insight over the window."""
        # Whole minutes: the current one and the ones that end inside the window.
        since = current_minute() - max(1, math.ceil(self.window_seconds / MINUTE)) + 1
        summaries = await self._store.window(since)
        dismissals = await self._store.dismissals()
        # In a thread like the window's merge: at the cap it is a tenth of a second of CPU.
        return await asyncio.to_thread(
            build_insights, summaries, self._rules(), dismissals, self.window_seconds, self.trace_url_template
        )

    async def one(self, action_id: str) -> Insight | None:
        validate_action_id(action_id)
        for insight in await self.load():
            if insight.out.action_id == action_id:
                return insight
        return None

    async def dismiss(self, action_id: str, mode: Mode, actor: str) -> None:
        """Hide the task's recommendation while it recommends ``mode``."""
        validate_action_id(action_id)
        await self._store.dismiss(action_id, mode, actor)
        logger.info("%s dismissed the recommendation for %s", actor, action_id)

    async def undismiss(self, action_id: str) -> None:
        validate_action_id(action_id)
        await self._store.undismiss(action_id)

    async def forget(self, action_ids: Sequence[str]) -> None:
        """Drop the numbers and dismissals of these tasks (validated by the caller)."""
        await self._store.forget(action_ids)

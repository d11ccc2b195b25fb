"""Bodies of the insight API: the workers' fan-out report (schema 1, docs/insight.md) and what the
service answers about a task. The report parses into the worker library's own mergeable summaries,
so the service adds them up with exactly the code that made them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hatchet_trace_flags.contract import (
    CHILDREN_BOUNDS,
    MAX_INSIGHT_TASKS_PER_REPORT,
    MAX_WORKFLOWS_PER_TASK,
    SECONDS_BOUNDS,
    ChildSide,
    Histogram,
    Mode,
    SpawnerSide,
    TaskSummary,
    exemplar_from_json,
)

from .bodies import WorkerName, check_text

__all__ = [
    "MAX_INSIGHT_TASKS_PER_REPORT",
    "ExamplesOut",
    "ExemplarOut",
    "HistogramIn",
    "InsightPage",
    "InsightsIn",
    "InsightsOut",
    "TaskInsightOut",
    "TaskSummaryIn",
]

_MAX_COUNT = 10**12  # far above any real delta; keeps sums exact and columns small

Count = Annotated[int, Field(ge=0, le=_MAX_COUNT)]
Value = Annotated[float, Field(ge=0.0, le=1e12, allow_inf_nan=False)]


class _Strict(BaseModel):
    # Unknown keys are ignored, not refused: a newer worker may add fields within schema 1.
    model_config = ConfigDict(extra="ignore")


class HistogramIn(_Strict):
    count: Count
    sum: Value
    min: Value
    max: Value
    buckets: list[Count] = Field(max_length=len(SECONDS_BOUNDS) + 1)

    @model_validator(mode="after")
    def _consistent(self) -> HistogramIn:
        if sum(self.buckets) != self.count:
            raise ValueError("the buckets must add up to count")
        if self.min > self.max:
            raise ValueError("min must not be above max")
        return self

    def to_histogram(self, bounds: tuple[float, ...]) -> Histogram:
        if len(self.buckets) != len(bounds) + 1:
            raise ValueError(f"a histogram with these bounds has {len(bounds) + 1} buckets")
        return Histogram(bounds, list(self.buckets), self.count, self.sum, self.min, self.max)


def _workflow_name(value: str) -> str:
    return check_text(value)


class _WithExemplar(_Strict):
    # Taken as it comes and checked here: a bad exemplar (not a trace id, a wrong length, no seconds) is
    # dropped and counted, never a reason to refuse the report's numbers.
    exemplar: Any = None

    @property
    def refused_exemplar(self) -> bool:
        return self.exemplar is not None and exemplar_from_json(self.exemplar) is None


class ChildIn(_WithExemplar):
    runs: Count
    link: Count = 0
    parent: Count = 0
    clamped: Count = 0
    start_delay: HistogramIn
    duration: HistogramIn

    def to_side(self) -> ChildSide:
        return ChildSide(
            self.runs,
            self.link,
            self.parent,
            self.clamped,
            self.start_delay.to_histogram(SECONDS_BOUNDS),
            self.duration.to_histogram(SECONDS_BOUNDS),
            exemplar_from_json(self.exemplar),
        )


class SpawnerIn(_WithExemplar):
    runs: Count
    children: HistogramIn
    by_workflow: dict[
        Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_workflow_name)], Count
    ] = Field(default_factory=dict, max_length=MAX_WORKFLOWS_PER_TASK + 1)
    duration: HistogramIn

    def to_side(self) -> SpawnerSide:
        return SpawnerSide(
            self.runs,
            self.children.to_histogram(CHILDREN_BOUNDS),
            dict(self.by_workflow),
            self.duration.to_histogram(SECONDS_BOUNDS),
            exemplar_from_json(self.exemplar),
        )


class TaskSummaryIn(_Strict):
    child: ChildIn | None = None
    spawner: SpawnerIn | None = None

    def to_summary(self) -> TaskSummary:
        return TaskSummary(
            self.child.to_side() if self.child is not None else None,
            self.spawner.to_side() if self.spawner is not None else None,
        )

    @property
    def refused_exemplars(self) -> int:
        return sum(1 for side in (self.child, self.spawner) if side is not None and side.refused_exemplar)


class TaskReportIn(TaskSummaryIn):
    action_id: str


class WindowIn(_Strict):
    start: Annotated[float, Field(allow_inf_nan=False)]
    end: Annotated[float, Field(allow_inf_nan=False)]


class BoundsIn(_Strict):
    seconds: list[float] = Field(max_length=1000)
    children: list[float] = Field(max_length=1000)

    @model_validator(mode="after")
    def _known(self) -> BoundsIn:
        # Percentiles and merges only mean something with the buckets this service knows.
        pairs = (("seconds", self.seconds, SECONDS_BOUNDS), ("children", self.children, CHILDREN_BOUNDS))
        for name, given, known in pairs:
            if len(given) != len(known) or any(
                not math.isclose(a, b, rel_tol=1e-9) for a, b in zip(given, known, strict=True)
            ):
                raise ValueError(f"bounds.{name} are not the ones of schema 1 (docs/insight.md)")
        return self


class InsightsIn(_Strict):
    """Body of ``POST /api/v1/tasks/insights``."""

    schema_: Literal[1] = Field(alias="schema")
    worker: WorkerName
    window: WindowIn
    bounds: BoundsIn
    dropped: Count = 0
    tasks: list[TaskReportIn] = Field(max_length=MAX_INSIGHT_TASKS_PER_REPORT)

    @model_validator(mode="after")
    def _histograms_fit(self) -> InsightsIn:
        for task in self.tasks:
            task.to_summary()  # raises ValueError (422) on a wrong number of buckets
        return self


class InsightsOut(BaseModel):
    recorded: int = Field(description="Tasks whose summaries were added up.")
    ignored: int | None = Field(None, description="New tasks dropped: the insight task limit is reached.")
    exemplars_refused: int | None = Field(
        None, description="Exemplars dropped: not a trace id (32 lowercase hex digits) or without seconds."
    )


class Quantiles(BaseModel):
    p50: float
    p95: float
    max: float


class ChildOut(BaseModel):
    runs: int
    link: int
    parent: int
    clamped: int
    start_delay_seconds: Quantiles
    duration_seconds: Quantiles


class SpawnerOut(BaseModel):
    runs: int
    children_per_run: Quantiles
    children_per_run_mean: float
    duration_seconds: Quantiles
    by_workflow: dict[str, int]


class SpawnedByOut(BaseModel):
    action_id: str
    children: int = Field(description="Runs of this task's workflow it spawned in the window.")


class TraceOpenOut(BaseModel):
    parent_seconds: float = Field(description="Spawner p50 + child start delay p95 + child duration p95.")
    link_seconds: float = Field(description="Spawner p50: the children are traces of their own.")


class RecommendationOut(BaseModel):
    mode: Mode
    reason: str
    dismissed: bool


class ExemplarOut(BaseModel):
    trace_id: str
    seconds: float
    url: str | None = Field(None, description="The trace in the operator's tracing backend, when configured.")


class ExamplesOut(BaseModel):
    spawner_trace: ExemplarOut | None = Field(
        None, description="The spawning run that held its trace open longest (its duration)."
    )
    child_trace: ExemplarOut | None = Field(
        None, description="The run of this task that started latest after its spawn (its start delay)."
    )


class TaskInsightOut(BaseModel):
    action_id: str
    effective_mode: Mode
    window_seconds: float
    child: ChildOut | None
    spawner: SpawnerOut | None
    spawned_by: list[SpawnedByOut]
    trace_open: TraceOpenOut | None
    recommendation: RecommendationOut | None
    examples: ExamplesOut | None = None


class InsightPage(BaseModel):
    items: list[TaskInsightOut]
    window_seconds: float

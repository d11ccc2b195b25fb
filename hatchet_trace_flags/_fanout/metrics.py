"""The worker side of fan-out measurement: child start delays, children per run, spawner durations.

:class:`FanoutMeasurement` is called by the step-run wrapper at each task start and end (never per
trigger). It feeds two places with the same numbers:

- the process's bounded summaries (``_fanout.stats.summaries``), which the admin service follower reports;
- three OpenTelemetry histograms on the instrumentor's meter provider:

  ``hatchet_trace_flags.child_start_delay`` (s): how long after its trigger a run started, with
  ``hatchet.action_id`` (the started task) and ``hatchet.mode`` (``link``/``parent``);
  ``hatchet_trace_flags.children_per_run`` ({run}): runs triggered by one task run that triggered any,
  with ``hatchet.action_id`` (the spawning task);
  ``hatchet_trace_flags.spawner_duration`` (s): how long those spawning runs took, same attribute.

Attributes are bounded: the first :data:`MAX_METRIC_ACTION_IDS` action_ids get their own value, later ones
share :data:`~hatchet_trace_flags.contract.OTHER`. The delay compares the trigger's wall clock with this
worker's: clocks of different machines disagree by milliseconds when synchronised, and the delays worth
acting on are seconds. A stamp later than the start (skew) counts as a 0 s delay and is counted as clamped.
"""

from __future__ import annotations

import time
from typing import Final

from hatchet_sdk.runnables.action import Action
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import Span

from hatchet_trace_flags._fanout.stats import FanoutStats, summaries
from hatchet_trace_flags._triggers.spawn_stamp import RunTally, running, spawned_at
from hatchet_trace_flags.contract import CHILDREN_BOUNDS, OTHER, SECONDS_BOUNDS

__all__ = [
    "CHILDREN_PER_RUN_METRIC",
    "CHILD_START_DELAY_METRIC",
    "SPAWNER_DURATION_METRIC",
    "FanoutMeasurement",
    "MeasuredRun",
    "measurement_for",
]

CHILD_START_DELAY_METRIC: Final = "hatchet_trace_flags.child_start_delay"
CHILDREN_PER_RUN_METRIC: Final = "hatchet_trace_flags.children_per_run"
SPAWNER_DURATION_METRIC: Final = "hatchet_trace_flags.spawner_duration"
MAX_METRIC_ACTION_IDS: Final = 500
_ACTION_ID: Final = "hatchet.action_id"
_MODE: Final = "hatchet.mode"


class MeasuredRun:
    """One task run being measured; ``end()`` it when the run ends."""

    __slots__ = ("action_id", "delay", "key", "measurement", "started", "tally", "trace_id", "was_child")

    def __init__(self, measurement: FanoutMeasurement, action_id: str, key: str, delay: float | None) -> None:
        self.measurement = measurement
        self.action_id = action_id
        self.key = key
        self.delay = delay  # the start delay of a run that carried a spawn stamp
        self.was_child = delay is not None
        self.tally = RunTally()
        self.started = time.perf_counter()
        self.trace_id = 0  # the run's trace, when it is exported: an exemplar candidate

    def note_trace(self, span: Span) -> None:
        """The run's start span: its trace may become an example, if it is sampled (exported)."""
        context = span.get_span_context()
        if context.trace_flags.sampled:
            self.trace_id = context.trace_id

    def end(self) -> None:
        self.measurement.run_ended(self)


class FanoutMeasurement:
    """Measures task runs for one instrumentor; ``stats`` defaults to the process's summaries."""

    def __init__(self, meter_provider: MeterProvider | None, stats: FanoutStats = summaries) -> None:
        self.stats = stats
        meter = get_meter("hatchet_trace_flags", meter_provider=meter_provider)
        self._delay = meter.create_histogram(
            CHILD_START_DELAY_METRIC,
            unit="s",
            description="How long after its trigger a task run started (queue, rate limits, capacity).",
            explicit_bucket_boundaries_advisory=list(SECONDS_BOUNDS),
        )
        self._children = meter.create_histogram(
            CHILDREN_PER_RUN_METRIC,
            unit="{run}",
            description="Runs triggered by one task run, for the runs that triggered any.",
            explicit_bucket_boundaries_advisory=list(CHILDREN_BOUNDS),
        )
        self._duration = meter.create_histogram(
            SPAWNER_DURATION_METRIC,
            unit="s",
            description="How long a task run that triggered other runs took.",
            explicit_bucket_boundaries_advisory=list(SECONDS_BOUNDS),
        )
        self._labelled: set[str] = set()

    def _label(self, action_id: str) -> str:
        if action_id in self._labelled:
            return action_id
        if len(self._labelled) >= MAX_METRIC_ACTION_IDS:
            return OTHER
        self._labelled.add(action_id)
        return action_id

    def run_started(self, action: Action, link_mode: bool, now_ns: int | None = None) -> MeasuredRun:
        """A task run starts: its start delay if it carries a stamp; counting its triggers begins."""
        action_id = action.action_id
        metadata = action.additional_metadata
        stamp = spawned_at(metadata) if metadata else None
        delay: float | None = None
        if stamp is not None:
            now = (time.time_ns() if now_ns is None else now_ns) // 1000
            clamped = now < stamp
            delay = 0.0 if clamped else (now - stamp) / 1e6
            self.stats.child_started(action_id, delay, link=link_mode, clamped=clamped)
            self._delay.record(
                delay, {_ACTION_ID: self._label(action_id), _MODE: "link" if link_mode else "parent"}
            )
        run = MeasuredRun(self, action_id, action.key, delay)
        running[run.key] = run.tally
        return run

    def run_ended(self, run: MeasuredRun) -> None:
        duration = time.perf_counter() - run.started
        if running.get(run.key) is run.tally:
            del running[run.key]
        children = run.tally.children
        if not children and not run.was_child:
            return
        self.stats.run_ended(
            run.action_id,
            duration,
            was_child=run.was_child,
            children=children,
            trace_id=run.trace_id,
            delay=run.delay,
        )
        if children:
            attributes = {_ACTION_ID: self._label(run.action_id)}
            self._children.record(sum(children.values()), attributes)
            self._duration.record(duration, attributes)


def measurement_for(
    measure: bool | None, predicate: object, meter_provider: MeterProvider | None
) -> FanoutMeasurement | None:
    """The instrumentor's measurement: ``measure``, or by default whenever it has a predicate (without one
    it behaves exactly like hatchet-sdk's, down to the runs' metadata)."""
    if measure is None:
        measure = predicate is not None
    return FanoutMeasurement(meter_provider) if measure else None

"""Fan-out measurement on the real worker path: a spawner triggers children, which start later on a worker.

Spawners run through `Runner.handle_start_step_run`; their triggers go over real gRPC to the stand-in engine
(or, from a durable task, to its listener); each child then starts on the worker with the metadata that was
sent. The summaries and the OpenTelemetry histograms must show the children per run and each start delay.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from hatchet_trace_flags._fanout.metrics import (
    CHILD_START_DELAY_METRIC,
    CHILDREN_PER_RUN_METRIC,
    SPAWNER_DURATION_METRIC,
)
from hatchet_trace_flags._fanout.stats import FanoutStats
from hatchet_trace_flags._triggers.spawn_stamp import SPAWNED_AT_METADATA_KEY
from hatchet_trace_flags.contract import TaskSummary
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, ProviderFactory
from tests.support.worker.traces import SPAWNER, ids_of
from tests.support.worker.worker import Worker

FAN_OUT = 3
SPAWNERS = ["parent:spawn", "sync-parent:spawn", "durable:spawn-many"]


def histogram_points(reader: InMemoryMetricReader, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[tuple[tuple[str, Any], ...], HistogramDataPoint] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        assert isinstance(point, HistogramDataPoint)
                        points[tuple(sorted((point.attributes or {}).items()))] = point
    return points


async def spawn(worker: Worker, engine: RecordingEngine, spawner: str) -> list[dict[str, Any]]:
    """Runs ``spawner`` on the worker; returns the metadata of each child it triggered."""
    await worker.run(spawner, {"traceparent": SPAWNER})
    if spawner.startswith("durable:"):
        [spawned] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
        return [dict(child.run_workflow_opts.additional_metadata) for child in spawned.children]
    return [trigger.additional_metadata for trigger in engine.triggers]


async def start_children(worker: Worker, sent: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Starts each child; returns the bounds (s) its start delay must lie within, from the test's clock."""
    bounds = []
    for metadata in sent:
        stamp = int(metadata[SPAWNED_AT_METADATA_KEY].split(":")[0])
        before = time.time_ns() // 1000
        await worker.run("child:work", metadata)
        after = time.time_ns() // 1000
        bounds.append(((before - stamp) / 1e6, (after - stamp) / 1e6))
    return bounds


def taken(stats: FanoutStats) -> dict[str, TaskSummary]:
    tasks, dropped = stats.take()
    assert dropped == 0
    return tasks


@pytest.mark.parametrize("mode", ["parent", "link"])
@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_children_per_run_and_their_start_delays(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    meter_provider: MeterProvider,
    reader: InMemoryMetricReader,
    fanout_stats: FanoutStats,
    spawner: str,
    mode: str,
) -> None:
    app.seen.fan_out = FAN_OUT
    instrument(lambda action_id: mode == "link", meter_provider=meter_provider)

    sent = await spawn(worker, engine, spawner)
    assert len(sent) == FAN_OUT
    bounds = await start_children(worker, sent)

    tasks = taken(fanout_stats)
    assert set(tasks) == {spawner, "child:work"}
    spawning = tasks[spawner].spawner
    assert spawning is not None
    assert spawning.runs == 1
    assert (spawning.children.count, spawning.children.total) == (1, FAN_OUT)
    assert spawning.by_workflow == {"child": FAN_OUT}
    assert spawning.duration.count == 1
    assert tasks[spawner].child is None  # it was started without a stamp

    child = tasks["child:work"].child
    assert child is not None
    assert (child.runs, child.clamped, child.duration.count) == (FAN_OUT, 0, FAN_OUT)
    assert (child.link, child.parent) == ((FAN_OUT, 0) if mode == "link" else (0, FAN_OUT))
    assert sum(low for low, _ in bounds) <= child.start_delay.total <= sum(high for _, high in bounds)
    assert max(low for low, _ in bounds) <= child.start_delay.high <= max(high for _, high in bounds)
    assert tasks["child:work"].spawner is None

    delays = histogram_points(reader, CHILD_START_DELAY_METRIC)
    [point] = delays.values()
    assert dict(point.attributes or {}) == {"hatchet.action_id": "child:work", "hatchet.mode": mode}
    assert point.count == FAN_OUT
    assert point.sum == pytest.approx(child.start_delay.total)
    [children] = histogram_points(reader, CHILDREN_PER_RUN_METRIC).values()
    assert dict(children.attributes or {}) == {"hatchet.action_id": spawner}
    assert (children.count, children.sum) == (1, FAN_OUT)
    [duration] = histogram_points(reader, SPAWNER_DURATION_METRIC).values()
    assert duration.sum == pytest.approx(spawning.duration.total)


async def test_a_stamp_inherited_from_an_ancestor_is_not_a_start_delay(
    instrument: InstrumentFactory, worker: Worker, fanout_stats: FanoutStats
) -> None:
    instrument(measure_fanout=True)
    # Hatchet copied the grandparent's metadata; the parent's trigger wrote a new traceparent but no stamp.
    other_spawner = SPAWNER.replace("00f067aa0ba902b7", "1111111111111111")
    await worker.run(
        "child:work",
        {"traceparent": other_spawner, SPAWNED_AT_METADATA_KEY: f"{time.time_ns() // 1000}:00f067aa0ba902b7"},
    )

    assert taken(fanout_stats) == {}


async def test_a_stamp_from_a_clock_ahead_counts_as_no_delay_and_is_counted(
    instrument: InstrumentFactory, worker: Worker, fanout_stats: FanoutStats
) -> None:
    instrument(measure_fanout=True)
    ahead = time.time_ns() // 1000 + 10_000_000  # the spawner's clock is 10 s ahead of this worker's
    await worker.run(
        "child:work", {"traceparent": SPAWNER, SPAWNED_AT_METADATA_KEY: f"{ahead}:00f067aa0ba902b7"}
    )

    child = taken(fanout_stats)["child:work"].child
    assert child is not None
    assert (child.runs, child.clamped, child.start_delay.high, child.start_delay.buckets[0]) == (1, 1, 0.0, 1)


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_without_measurement_nothing_is_stamped_or_counted(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    fanout_stats: FanoutStats,
    spawner: str,
) -> None:
    app.seen.fan_out = FAN_OUT
    instrument(lambda action_id: False, measure_fanout=False)

    sent = await spawn(worker, engine, spawner)
    for metadata in sent:
        await worker.run("child:work", metadata)

    assert len(sent) == FAN_OUT
    assert all(SPAWNED_AT_METADATA_KEY not in metadata for metadata in sent)
    assert taken(fanout_stats) == {}


async def test_a_run_that_triggers_nothing_and_was_not_spawned_is_not_summarised(
    instrument: InstrumentFactory, worker: Worker, fanout_stats: FanoutStats
) -> None:
    instrument(measure_fanout=True)
    await worker.run("child:work", {"traceparent": SPAWNER})

    assert taken(fanout_stats) == {}


async def test_without_a_predicate_nothing_is_measured_unless_asked(
    instrument: InstrumentFactory, worker: Worker, engine: RecordingEngine, fanout_stats: FanoutStats
) -> None:
    instrument(None)  # exactly stock, metadata included
    sent = await spawn(worker, engine, "parent:spawn")

    assert sent
    assert all(SPAWNED_AT_METADATA_KEY not in metadata for metadata in sent)
    assert taken(fanout_stats) == {}


@pytest.mark.parametrize("mode", ["parent", "link"])
async def test_exemplars_are_the_latest_child_and_the_spawner_trace(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    fanout_stats: FanoutStats,
    mode: str,
) -> None:
    app.seen.fan_out = FAN_OUT
    instrument(lambda action_id: mode == "link")

    sent = await spawn(worker, engine, "parent:spawn")
    await start_children(worker, sent)

    tasks = taken(fanout_stats)
    spawning, child = tasks["parent:spawn"].spawner, tasks["child:work"].child
    assert spawning is not None
    assert child is not None
    starts = _start_spans(exporter)
    [spawner_span] = starts["parent:spawn"]
    assert spawning.exemplar is not None
    assert spawning.exemplar.trace_id == f"{ids_of(spawner_span)[0]:032x}"
    assert spawning.exemplar.seconds == spawning.duration.high
    # The child kept is the one that started latest: its own trace (a new one in link mode).
    assert child.exemplar is not None
    assert child.exemplar.seconds == child.start_delay.high
    child_traces = {f"{ids_of(span)[0]:032x}" for span in starts["child:work"]}
    assert child.exemplar.trace_id in child_traces
    assert (child.exemplar.trace_id == spawning.exemplar.trace_id) is (mode == "parent")
    assert tasks["child:work"].to_json("child:work")["child"]["exemplar"] == {
        "trace_id": child.exemplar.trace_id,
        "seconds": child.exemplar.seconds,
    }


async def test_an_unsampled_run_is_no_exemplar(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    provider_with: ProviderFactory,
    fanout_stats: FanoutStats,
) -> None:
    app.seen.fan_out = FAN_OUT
    instrument(lambda action_id: True, tracer_provider=provider_with(ALWAYS_OFF))

    sent = await spawn(worker, engine, "parent:spawn")
    await start_children(worker, sent)

    tasks = taken(fanout_stats)
    spawning, child = tasks["parent:spawn"].spawner, tasks["child:work"].child
    assert spawning is not None
    assert child is not None
    assert (spawning.runs, child.runs) == (1, FAN_OUT)  # measured all the same
    assert (spawning.exemplar, child.exemplar) == (None, None)  # but nothing to open


def _start_spans(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    spans: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        if span.name == "hatchet.start_step_run" and span.attributes:
            spans.setdefault(str(span.attributes["hatchet.action_name"]), []).append(span)
    return spans

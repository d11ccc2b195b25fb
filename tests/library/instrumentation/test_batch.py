"""Batch tasks: `Runner.handle_start_batch` gets a `hatchet.start_batch` span, parent or linked as step runs.

Batch starts run on the real hatchet-sdk worker path (`Runner.handle_start_batch` with real `START_BATCH`
actions and a real batch task); the spawning traceparent comes from a real trigger over gRPC where it matters.
"""

from __future__ import annotations

import inspect

import pytest
from hatchet_sdk import ClientConfig
from hatchet_sdk.config import OpenTelemetryConfig
from hatchet_sdk.contracts.dispatcher_pb2 import StepActionEventType
from hatchet_sdk.worker.runner.runner import Runner
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind

from hatchet_trace_flags import SPAWN_LINK_ATTRIBUTE, FollowSpawnerSampler, Relationship, trace_relationship
from hatchet_trace_flags._instrumentation.batch import has_batch_tasks
from tests.support.engine.hatchet_engine import RecordingEngine, Trigger
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import SPAWNER_SPAN_ID, SPAWNER_TRACE_ID, ids_in, ids_of, only, traceparent
from tests.support.worker.worker import Worker

if has_batch_tasks():
    from tests.support.worker.batch_worker import batch_action, run_batch

needs_batch_tasks = pytest.mark.skipif(not has_batch_tasks(), reason="hatchet-sdk < 1.37 has no batch tasks")

BATCH = "batch:collect"


def batch_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    return only(spans_named(exporter, "hatchet.start_batch"))


async def spawn_batch_run(
    app: App, engine: RecordingEngine, tracer_provider: TracerProvider
) -> dict[str, object]:
    """Triggers the batch workflow from a caller span, over gRPC; returns the metadata the engine received."""
    with tracer_provider.get_tracer("tests").start_as_current_span("caller"):
        await app.batch.aio_run(wait_for_result=False)
    return only_trigger(engine).additional_metadata


def only_trigger(engine: RecordingEngine) -> Trigger:
    [trigger] = engine.triggers
    return trigger


@needs_batch_tasks
async def test_a_batch_start_gets_a_consumer_span_with_the_batch_attributes(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(None)
    metadata = await spawn_batch_run(app, engine, tracer_provider)
    action = batch_action(BATCH, 3, metadata).model_copy(update={"batch_key": "customer-7"})

    events = await run_batch(worker, action)

    assert [event.type for event in events] == [
        StepActionEventType.STEP_EVENT_TYPE_STARTED,
        StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
    ]
    span = batch_span(exporter)
    assert span.kind is SpanKind.CONSUMER
    attributes = dict(span.attributes or {})
    assert attributes["hatchet.batch_id"] == action.batch_id
    assert attributes["hatchet.batch_size"] == 3
    assert attributes["hatchet.batch_key"] == "customer-7"
    assert attributes["hatchet.batch_trigger_reason"] == "batch_max_size"
    assert attributes["hatchet.action_name"] == BATCH
    assert attributes["hatchet.tenant_id"] == "tenant-1"
    assert attributes["instrumentor"] == "hatchet"
    # The action's own payload is empty and its per-run ids are blank: those attributes would say nothing.
    assert "hatchet.action_payload" not in attributes
    assert "hatchet.step_run_id" not in attributes
    # Parent mode: the child of the span that triggered the run, like a step run.
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == ids_in(str(metadata["traceparent"]))
    assert span.links == ()
    # The batch task's own spans nest under it.
    user = only(spans_named(exporter, "user.batch-work"))
    assert user.parent is not None
    assert user.parent.span_id == ids_of(span)[1]


@needs_batch_tasks
async def test_link_mode_makes_the_batch_a_new_trace_linked_to_its_spawner(
    instrument: InstrumentFactory,
    worker: Worker,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
) -> None:
    instrument(lambda action_id: action_id == BATCH)

    await run_batch(worker, batch_action(BATCH, 2, {"traceparent": traceparent()}))

    span = batch_span(exporter)
    assert span.parent is None
    assert ids_of(span)[0] != SPAWNER_TRACE_ID
    [link] = span.links
    assert (link.context.trace_id, link.context.span_id) == (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)
    assert dict(link.attributes or {}) == {SPAWN_LINK_ATTRIBUTE: "spawned_by"}
    # Everything the batch task does stays in the new trace, including the runs it triggers.
    assert ids_of(only(spans_named(exporter, "user.batch-work")))[0] == ids_of(span)[0]
    triggered = only_trigger(engine).additional_metadata["traceparent"]
    assert ids_in(triggered)[0] == ids_of(span)[0]


@needs_batch_tasks
@pytest.mark.parametrize(
    ("task_setting", "requested"),
    [(False, "link"), (True, "parent")],
    ids=["link-over-parent", "parent-over-link"],
)
async def test_the_per_run_override_decides_for_a_batch(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    task_setting: bool,
    requested: Relationship,
) -> None:
    instrument(lambda action_id: task_setting)
    with trace_relationship(requested):
        metadata = await spawn_batch_run(app, engine, tracer_provider)

    await run_batch(worker, batch_action(BATCH, 2, metadata))

    span = batch_span(exporter)
    spawner = ids_in(str(metadata["traceparent"]))
    if requested == "link":
        assert span.parent is None
        assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [spawner]
    else:
        assert span.parent is not None
        assert (span.parent.trace_id, span.parent.span_id) == spawner
        assert span.links == ()


@needs_batch_tasks
async def test_the_predicate_is_asked_once_per_batch_with_its_action_id(
    instrument: InstrumentFactory, worker: Worker
) -> None:
    asked: list[str] = []

    def predicate(action_id: str) -> bool:
        asked.append(action_id)
        return False

    instrument(predicate)

    await run_batch(worker, batch_action(BATCH, 5, {"traceparent": traceparent()}))

    assert asked == [BATCH]


@needs_batch_tasks
@pytest.mark.parametrize("link_mode", [True, False], ids=["link", "parent"])
async def test_a_batch_without_a_traceparent_is_a_root_without_links(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter, link_mode: bool
) -> None:
    # What Hatchet's engine sends today: START_BATCH actions carry no additional_metadata at all.
    instrument(lambda action_id: link_mode)

    await run_batch(worker, batch_action(BATCH, 2))

    span = batch_span(exporter)
    assert span.parent is None
    assert span.links == ()


@needs_batch_tasks
async def test_the_span_name_can_carry_the_task_name(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter, client_config: ClientConfig
) -> None:
    config = client_config.model_copy(
        update={"otel": OpenTelemetryConfig(include_task_name_in_start_step_run_span_name=True)}
    )
    instrument(None, config=config)

    await run_batch(worker, batch_action(BATCH, 1))

    assert len(spans_named(exporter, f"hatchet.start_batch.{BATCH}")) == 1


@needs_batch_tasks
async def test_uninstrument_restores_handle_start_batch(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    original = vars(Runner)["handle_start_batch"]
    instrumentor = instrument(None)
    assert vars(Runner)["handle_start_batch"] is not original

    instrumentor.uninstrument()
    await run_batch(worker, batch_action(BATCH, 1))

    assert vars(Runner)["handle_start_batch"] is original
    assert spans_named(exporter, "hatchet.start_batch") == []


async def test_a_hatchet_sdk_without_batch_tasks_is_instrumented_without_them(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # hatchet-sdk < 1.37: Runner has no handle_start_batch.
    monkeypatch.delattr(Runner, "handle_start_batch", raising=False)

    instrumentor = instrument(lambda action_id: True)
    assert not hasattr(Runner, "handle_start_batch")
    await worker.run("child:work", {"traceparent": traceparent()})
    instrumentor.uninstrument()

    assert not hasattr(Runner, "handle_start_batch")
    assert len(spans_named(exporter, "hatchet.start_step_run")) == 1


@needs_batch_tasks
def test_handle_start_batch_still_takes_one_action() -> None:
    # The wrapper reads the Action from the only argument: fail loudly if a hatchet-sdk upgrade changes that.
    assert list(inspect.signature(vars(Runner)["handle_start_batch"]).parameters) == ["self", "action"]


@needs_batch_tasks
@pytest.mark.parametrize("spawner_sampled", [True, False])
async def test_follow_spawner_sampler_keeps_a_linked_batch_in_step_with_its_spawner(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter, spawner_sampled: bool
) -> None:
    provider = TracerProvider(sampler=FollowSpawnerSampler(ParentBased(ALWAYS_ON)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(lambda action_id: True, tracer_provider=provider)

    try:
        await run_batch(worker, batch_action(BATCH, 2, {"traceparent": traceparent(sampled=spawner_sampled)}))
    finally:
        provider.shutdown()

    assert len(spans_named(exporter, "hatchet.start_batch")) == (1 if spawner_sampled else 0)

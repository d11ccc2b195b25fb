"""Runs triggered from inside a linked run stay in the engine's family, whatever triggers them: hatchet-sdk's
own trigger wrappers, durable spawns and waits, a sampled-out family; a stock hatchet-sdk worker as the child.
Without the engine exporter nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hatchet_sdk import ClientConfig
from hatchet_sdk.clients.admin import AdminClient
from hatchet_sdk.config import OpenTelemetryConfig
from hatchet_sdk.opentelemetry.instrumentor import HatchetInstrumentor as StockInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from hatchet_trace_flags import FollowSpawnerSampler, trace_relationship
from hatchet_trace_flags._instrumentation.instrumentor import _TARGETS, _unwrap_once
from tests.support.engine.engine_collector import EngineCollector
from tests.support.engine.engine_view_fixtures import EngineInstrumentFactory
from tests.support.engine.family_app import FamilyApp, action_id
from tests.support.engine.family_runs import DispatchedRun, dispatch_all, view_problems
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, ProviderFactory
from tests.support.worker.traceparents import parse_traceparent
from tests.support.worker.worker import Worker

FAMILY_KEY = "hatchet_trace_flags.traceparent"
ORIGINALS = {(owner, name): vars(owner)[name] for owner, name, _, _ in _TARGETS}


def own_trace_of(run: DispatchedRun, spans: tuple[ReadableSpan, ...]) -> int:
    (start,) = [
        span
        for span in spans
        if span.name.startswith("hatchet.start_step_run")
        and (span.attributes or {}).get("hatchet.step_run_id") == run.action.step_run_id
    ]
    assert start.context is not None
    return start.context.trace_id


def assert_in_family(metadata: dict[str, Any], family_trace: int, own_trace: int) -> None:
    """The engine's traceparent in the family's trace, the link shape in our key, one span in both."""
    engine_parent = parse_traceparent(metadata["traceparent"])
    own = parse_traceparent(metadata[FAMILY_KEY])
    assert engine_parent is not None
    assert own is not None
    assert engine_parent[0] == family_trace
    assert own[0] == own_trace
    assert engine_parent[1:] == own[1:]


@pytest.mark.parametrize("individual_spans", [False, True], ids=["one-span", "span-per-item"])
async def test_hatchet_sdks_own_trigger_wrappers_keep_the_engine_family(
    individual_spans: bool,
    client_config: ClientConfig,
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    # hatchet-sdk's individual_run_spans_for_bulk_run: each bulk item gets a span and traceparent of its own.
    otel = OpenTelemetryConfig(individual_run_spans_for_bulk_run=individual_spans)
    engine_instrument(
        lambda action: action == "family-triggers:work",
        config=client_config.model_copy(update={"otel": otel}),
    )
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request") as client:
        family.triggers.run(wait_for_result=False)
    [run] = await dispatch_all(family_worker, engine, limit=1)
    assert tracer_provider.force_flush()

    spans = exporter.get_finished_spans()
    family_trace = client.get_span_context().trace_id
    own_trace = own_trace_of(run, spans)
    assert own_trace != family_trace  # a linked run
    made = [*engine.triggers[1:], *engine.events, *engine.schedules]
    assert len(made) == 4 + 4 + 1  # run_many x2 (two items each), push, aio_push, bulk pushes, schedule
    for sent in made:
        assert_in_family(sent.additional_metadata, family_trace, own_trace)
    bulk_items = {sent.additional_metadata["traceparent"] for sent in engine.triggers[1:]}
    assert len(bulk_items) == (4 if individual_spans else 2)
    assert view_problems(collector, run, spans, family_trace) == []


async def test_durable_waits_and_spawns_of_a_linked_run_stay_in_its_view(
    engine_instrument: EngineInstrumentFactory,
    app: App,
    worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    engine_instrument(lambda action: action == "durable:wait-and-spawn")
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request") as client:
        app.durable.run(wait_for_result=False)
    [run] = await dispatch_all(worker, engine, {"durable": "wait-and-spawn"}, limit=1)
    assert tracer_provider.force_flush()

    spans = exporter.get_finished_spans()
    family_trace = client.get_span_context().trace_id
    [children] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
    assert_in_family(
        children.children[0].run_workflow_opts.additional_metadata, family_trace, own_trace_of(run, spans)
    )
    assert view_problems(collector, run, spans, family_trace) == []
    view = collector.view(run.action.step_run_id)
    assert {"hatchet.durable.wait_for", "hatchet.run_workflow"} <= {span.name for span in view.spans.values()}


async def test_a_sampled_out_family_sends_the_engine_nothing_and_keeps_its_traceparents(
    engine_instrument: EngineInstrumentFactory,
    provider_with: ProviderFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    exporter: InMemorySpanExporter,
) -> None:
    provider = provider_with(FollowSpawnerSampler())
    family.tracer_provider = provider
    engine_instrument(
        lambda action: action in {action_id("async", 1), action_id("async", 3)}, tracer_provider=provider
    )
    caller = SpanContext(0xCA11E4, 0xCA11, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with provider.get_tracer("tests.client").start_as_current_span(
        "client.request", context=set_span_in_context(NonRecordingSpan(caller))
    ):
        family.generations["async"][0].run(wait_for_result=False)
    runs = await dispatch_all(family_worker, engine)
    assert provider.force_flush()

    assert len(runs) == 4
    # FollowSpawnerSampler: the linked roots follow the unsampled caller.
    assert exporter.get_finished_spans() == ()
    for run in runs[1:]:
        engine_parent = parse_traceparent(run.metadata["traceparent"])
        own = parse_traceparent(run.metadata[FAMILY_KEY])
        assert engine_parent is not None
        assert own is not None
        assert engine_parent[0] == 0xCA11E4  # the family stays in the engine's trace, sampled or not
        assert engine_parent[2] == own[2]  # the worker span's own flags,
        assert not engine_parent[2] & TraceFlags.SAMPLED  # so: not sampled
    for run in runs:
        assert collector.worker_spans(run.action.step_run_id) == []


@pytest.fixture
def stock_worker_provider(
    client_config: ClientConfig,
) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A second worker's provider, for a stock hatchet-sdk instrumentor (engine exporter on)."""
    provider = TracerProvider()
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    yield provider, exported
    stock = vars(StockInstrumentor).get("_instance")
    if stock is not None and stock.is_instrumented_by_opentelemetry:
        stock.uninstrument()
    for owner, name, _, _ in _TARGETS:  # upstream's uninstrument unwraps nothing
        while vars(owner)[name] is not ORIGINALS[(owner, name)]:
            _unwrap_once(owner, name)
    provider.shutdown()


async def test_a_stock_hatchet_sdk_worker_runs_the_child_of_a_linked_run_in_the_engines_family(
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client_config: ClientConfig,
    stock_worker_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    ours = engine_instrument(lambda action: action == action_id("async", 1))
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request") as client:
        family.generations["async"][0].run(wait_for_result=False)
    ours_runs = await dispatch_all(family_worker, engine, limit=2)  # spawner, linked child: our worker
    assert tracer_provider.force_flush()
    ours.uninstrument()

    stock_provider, stock_exported = stock_worker_provider
    family.tracer_provider = stock_provider
    StockInstrumentor(tracer_provider=stock_provider, config=client_config).instrument()
    stock_runs = (await dispatch_all(family_worker, engine))[2:]  # grandchild, great-grandchild: stock
    assert stock_provider.force_flush()

    family_trace = client.get_span_context().trace_id
    ours_spans, stock_spans = exporter.get_finished_spans(), stock_exported.get_finished_spans()
    for run in ours_runs:
        assert view_problems(collector, run, ours_spans, family_trace) == []
    # Hatchet's view: the stock worker's runs are whole, in the family, under the linked child's trigger.
    for run in stock_runs:
        assert view_problems(collector, run, stock_spans, family_trace) == []
    # The user's backend: the stock grandchild reads only traceparent, so its spans land in the caller's
    # trace, under a parent span (the linked child's trigger) that the backend has in the child's own trace.
    linked_trace = own_trace_of(ours_runs[1], ours_spans)
    trigger = parse_traceparent(stock_runs[0].metadata["traceparent"])
    assert trigger is not None
    [trigger_span] = [
        span for span in ours_spans if span.context is not None and span.context.span_id == trigger[1]
    ]
    assert trigger_span.context is not None
    assert trigger_span.context.trace_id == linked_trace
    [grandchild_start] = [
        span
        for span in stock_spans
        if span.name.startswith("hatchet.start_step_run")
        and (span.attributes or {}).get("hatchet.step_run_id") == stock_runs[0].action.step_run_id
    ]
    assert grandchild_start.context is not None
    assert grandchild_start.parent is not None
    assert (grandchild_start.context.trace_id, grandchild_start.parent.span_id) == (family_trace, trigger[1])


async def test_without_the_engine_exporter_nothing_changes(
    instrument: InstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    instrument(lambda action: action == action_id("async", 1))  # enable_hatchet_otel_collector=False
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request"):
        family.generations["async"][0].run(wait_for_result=False)
    runs = await dispatch_all(family_worker, engine)

    assert all(FAMILY_KEY not in run.metadata for run in runs)
    # As before this feature: the linked child's triggers carry its own (link-shaped) trace.
    grandchild = parse_traceparent(runs[2].metadata["traceparent"])
    assert grandchild is not None
    assert grandchild[0] == own_trace_of(runs[1], exporter.get_finished_spans())


async def test_a_trigger_hatchet_sdk_changed_still_sends_the_engine_its_shape(
    monkeypatch: pytest.MonkeyPatch,
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    original = AdminClient.aio_run_workflow

    async def newer(
        self: AdminClient, workflow_name: str, input: Any, options: Any, lease: Any = None
    ) -> Any:
        return await original(self, workflow_name, input, options)

    # A newer hatchet-sdk (compat): aio_run gets hatchet-sdk's own wrapper, which writes the current span's
    # traceparent; inside a linked run that is the link shape, which must not reach the engine.
    monkeypatch.setattr(AdminClient, "aio_run_workflow", newer)
    engine_instrument(lambda action: action == action_id("async", 1))
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request") as client:
        family.generations["async"][0].run(wait_for_result=False)
    runs = await dispatch_all(family_worker, engine)

    spans = exporter.get_finished_spans()
    assert_in_family(runs[2].metadata, client.get_span_context().trace_id, own_trace_of(runs[1], spans))


async def test_a_per_run_override_and_a_retry_keep_the_view_whole(
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    engine_instrument(None)  # no predicate: only the override asks for a link
    with (
        tracer_provider.get_tracer("tests.client").start_as_current_span("client.request") as client,
        trace_relationship("link"),
    ):
        family.generations["async"][3].run(wait_for_result=False)
    [first] = await dispatch_all(family_worker, engine)
    retried = first.action.model_copy(update={"retry_count": 1})
    collector.dispatch(retried.step_run_id, retried.workflow_run_id, retried.additional_metadata)
    assert await family_worker.runner.handle_start_step_run(retried) is None
    assert tracer_provider.force_flush()

    spans = exporter.get_finished_spans()
    starts = [span for span in spans if span.name.startswith("hatchet.start_step_run")]
    assert len(starts) == 2
    assert all(span.parent is None and span.links for span in starts)  # both attempts linked roots
    assert len({span.context.trace_id for span in starts if span.context is not None}) == 2
    assert view_problems(collector, first, spans, client.get_span_context().trace_id) == []
    engine_starts = [
        span
        for span in collector.worker_spans(first.action.step_run_id)
        if span.name.startswith("hatchet.start")
    ]
    assert len(engine_starts) == 2
    assert {span.parent_span_id for span in engine_starts} == {client_trigger_span_id(spans)}


def client_trigger_span_id(spans: tuple[ReadableSpan, ...]) -> int:
    [trigger] = [span for span in spans if span.name == "hatchet.run_workflow"]
    assert trigger.context is not None
    return trigger.context.span_id

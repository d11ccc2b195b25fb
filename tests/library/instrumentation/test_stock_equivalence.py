"""With no predicate, our spans must be exactly hatchet-sdk's: names, kinds, attributes, parents."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hatchet_sdk import ClientConfig
from hatchet_sdk.opentelemetry.instrumentor import HatchetInstrumentor as StockInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tests.support.worker.worker
from hatchet_trace_flags._instrumentation.instrumentor import _TARGETS, _unwrap_once
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory
from tests.support.worker.traces import SPAWNER
from tests.support.worker.worker import Worker


async def scenario(
    worker: Worker, app: App, engine: RecordingEngine, tracer_provider: TracerProvider
) -> None:
    """A bit of everything the instrumentor wraps, on both sides."""
    tracer_provider_tracer = tracer_provider.get_tracer("tests")
    with tracer_provider_tracer.start_as_current_span("caller"):
        await app.child.aio_run(wait_for_result=False, additional_metadata={"tenant": "acme"})
        app.child.run(wait_for_result=False)
        await app.child.aio_run_many([app.child.create_bulk_run_item()] * 2, wait_for_result=False)
        app.hatchet.event.push("user:created", {"id": 1})
        await app.hatchet.event.aio_push("user:updated", {"id": 1})
    first_child_trigger = engine.triggers[0]
    await worker.run("parent:spawn", {"traceparent": SPAWNER})
    await worker.run("child:work", first_child_trigger.additional_metadata)
    await worker.run("sync-parent:spawn", {})
    await worker.run("async-child:work", {"traceparent": "garbage"})
    await worker.run("durable:wait-and-spawn", {"traceparent": SPAWNER})


def shape(spans: list[ReadableSpan]) -> list[Any]:
    by_id = {span.context.span_id: span for span in spans if span.context is not None}

    def describe(span: ReadableSpan) -> Any:
        if span.parent is None:
            parent: Any = "root"
        elif span.parent.span_id in by_id:
            parent = describe(by_id[span.parent.span_id])
        else:
            parent = ("remote", span.parent.trace_id, span.parent.span_id)
        return (
            span.name,
            span.kind.name,
            span.instrumentation_scope.name if span.instrumentation_scope else None,
            tuple(sorted((span.attributes or {}).items())),
            tuple(tuple(sorted((link.attributes or {}).items())) for link in span.links),
            span.status.status_code.name,
            parent,
        )

    return sorted((describe(span) for span in spans), key=repr)


@pytest.fixture
def fresh_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(tests.support.worker.worker, "_ids", itertools.count(1))
    return


async def run_scenario(
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> list[Any]:
    tests.support.worker.worker._ids = itertools.count(1)
    exporter.clear()
    with engine.lock:
        engine.triggers.clear()
        engine.events.clear()
    await scenario(worker, app, engine, tracer_provider)
    return shape(list(exporter.get_finished_spans()))


@pytest.mark.parametrize(
    "excluded",
    [[], ["workflow_name", "parent_id", "child_index", "additional_metadata", "action_payload"]],
    ids=["all-attributes", "some-excluded"],
)
async def test_without_predicate_spans_are_exactly_stock(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    client_config: ClientConfig,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    fresh_ids: None,
    excluded: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_config.otel, "excluded_attributes", excluded)
    stock = StockInstrumentor(
        tracer_provider=tracer_provider, config=client_config, enable_hatchet_otel_collector=False
    )
    stock.instrument()
    try:
        stock_shape = await run_scenario(worker, app, engine, tracer_provider, exporter)
    finally:
        stock.uninstrument()
        for owner, name, _, _ in _TARGETS:  # upstream's uninstrument unwraps nothing
            _unwrap_once(owner, name)

    instrument(None)
    our_shape = await run_scenario(worker, app, engine, tracer_provider, exporter)

    assert len(stock_shape) > 20
    assert our_shape == stock_shape


async def test_link_mode_is_not_stock(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    fresh_ids: None,
) -> None:
    """Guards the equivalence test itself: the shape comparison does see a relationship change."""
    instrument(None)
    parent_shape = await run_scenario(worker, app, engine, tracer_provider, exporter)
    instrument(lambda action_id: action_id == "child:work")
    link_shape = await run_scenario(worker, app, engine, tracer_provider, exporter)

    assert link_shape != parent_shape

"""`individual_run_spans_for_bulk_run` with link mode: every bulk child links to its own `run_workflow` span.

hatchet-sdk's option gives each item of a bulk run its own `hatchet.run_workflow` span and traceparent. The
runs are triggered over real gRPC to the stand-in engine (or, from a durable task, sent to its listener), and
each child is then started on the real worker path with the metadata the engine received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hatchet_sdk import ClientConfig
from hatchet_sdk.config import OpenTelemetryConfig
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import RELATIONSHIP_METADATA_KEY, trace_relationship
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import ids_in, ids_of, only
from tests.support.worker.worker import Worker

FAN_OUT = 3


@pytest.fixture
def per_item_spans(client_config: ClientConfig) -> ClientConfig:
    return client_config.model_copy(
        update={"otel": OpenTelemetryConfig(individual_run_spans_for_bulk_run=True)}
    )


async def run_many_sync(app: App) -> None:
    app.child.run_many([app.child.create_bulk_run_item()] * FAN_OUT, wait_for_result=False)


async def run_many_async(app: App) -> None:
    await app.child.aio_run_many([app.child.create_bulk_run_item()] * FAN_OUT, wait_for_result=False)


BULK_TRIGGERS: dict[str, Callable[[App], Awaitable[None]]] = {"sync": run_many_sync, "async": run_many_async}


def step_spans(exporter: InMemorySpanExporter, action_id: str = "child:work") -> list[ReadableSpan]:
    return [
        span
        for span in spans_named(exporter, "hatchet.start_step_run")
        if span.attributes and span.attributes.get("hatchet.action_name") == action_id
    ]


async def start_children(worker: Worker, sent: list[dict[str, Any]]) -> None:
    for metadata in sent:
        await worker.run("child:work", metadata)


def assert_each_child_links_to_its_own_item_span(
    exporter: InMemorySpanExporter, sent: list[dict[str, Any]], bulk: ReadableSpan
) -> None:
    items = spans_named(exporter, "hatchet.run_workflow")
    assert len(items) == FAN_OUT
    for item in items:
        assert item.parent is not None
        assert item.parent.span_id == ids_of(bulk)[1]
    # One traceparent per item, each naming that item's span...
    assert sorted(ids_in(metadata["traceparent"]) for metadata in sent) == sorted(map(ids_of, items))
    # ...so each child, a linked root, points at its own run_workflow span.
    children = step_spans(exporter)
    assert len(children) == FAN_OUT
    assert all(child.parent is None for child in children)
    linked = sorted(
        (link.context.trace_id, link.context.span_id) for child in children for link in child.links
    )
    assert linked == sorted(map(ids_of, items))


@pytest.mark.parametrize("trigger", BULK_TRIGGERS)
@pytest.mark.parametrize("chosen_by", ["override", "predicate"])
async def test_each_bulk_child_links_to_its_own_run_workflow_span(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    per_item_spans: ClientConfig,
    trigger: str,
    chosen_by: str,
) -> None:
    instrument(lambda action_id: chosen_by == "predicate", config=per_item_spans)

    with tracer_provider.get_tracer("tests").start_as_current_span("caller"):
        if chosen_by == "override":
            with trace_relationship("link"):
                await BULK_TRIGGERS[trigger](app)
        else:
            await BULK_TRIGGERS[trigger](app)
    sent = [trigger.additional_metadata for trigger in engine.triggers]
    await start_children(worker, sent)

    assert len(sent) == FAN_OUT
    if chosen_by == "override":
        # Bound to each item's own traceparent, so every child honours it.
        for metadata in sent:
            span_id = metadata["traceparent"].split("-")[2]
            assert metadata[RELATIONSHIP_METADATA_KEY] == f"link:{span_id}"
    assert_each_child_links_to_its_own_item_span(
        exporter, sent, only(spans_named(exporter, "hatchet.run_workflows"))
    )


async def test_without_the_option_bulk_children_share_one_spawner(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(lambda action_id: True)

    with tracer_provider.get_tracer("tests").start_as_current_span("caller"):
        await run_many_async(app)
    sent = [trigger.additional_metadata for trigger in engine.triggers]
    await start_children(worker, sent)

    bulk = only(spans_named(exporter, "hatchet.run_workflows"))
    assert spans_named(exporter, "hatchet.run_workflow") == []
    linked = {
        (link.context.trace_id, link.context.span_id)
        for child in step_spans(exporter)
        for link in child.links
    }
    assert linked == {ids_of(bulk)}


@pytest.mark.parametrize("chosen_by", ["override", "predicate"])
async def test_children_spawned_in_bulk_from_a_durable_task_get_their_own_spans(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    exporter: InMemorySpanExporter,
    per_item_spans: ClientConfig,
    chosen_by: str,
) -> None:
    app.seen.fan_out = FAN_OUT
    instrument(lambda action_id: chosen_by == "predicate", config=per_item_spans)

    if chosen_by == "override":
        with trace_relationship("link"):
            await worker.run("durable:spawn-many", {})
    else:
        await worker.run("durable:spawn-many", {})
    [spawn] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
    sent = [child.run_workflow_opts.additional_metadata for child in spawn.children]
    await start_children(worker, sent)

    # The bulk span belongs to the durable task's trace, each child's span under it.
    durable = only(step_spans(exporter, "durable:spawn-many"))
    bulk = only(spans_named(exporter, "hatchet.run_workflows"))
    assert bulk.parent is not None
    assert bulk.parent.span_id == ids_of(durable)[1]
    if chosen_by == "override":
        for metadata in sent:
            assert metadata[RELATIONSHIP_METADATA_KEY] == f"link:{metadata['traceparent'].split('-')[2]}"
    assert_each_child_links_to_its_own_item_span(exporter, sent, bulk)

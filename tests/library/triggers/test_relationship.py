"""Per-run override: `with trace_relationship(...)` around a trigger, honoured ahead of the predicate."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import RELATIONSHIP_METADATA_KEY, Relationship, trace_relationship
from tests.support.engine.hatchet_engine import RecordingEngine, Trigger
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import ids_in, step_span
from tests.support.worker.worker import Worker


def always(value: bool):  # type: ignore[no-untyped-def]
    return lambda action_id: value


def assert_linked_root(span: ReadableSpan, spawner: Trigger) -> None:
    assert span.parent is None
    [link] = span.links
    assert (link.context.trace_id, link.context.span_id) == ids_in(spawner.additional_metadata["traceparent"])


def assert_child_of(span: ReadableSpan, spawner: Trigger) -> None:
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == ids_in(spawner.additional_metadata["traceparent"])
    assert span.links == ()


@pytest.mark.parametrize(
    ("task_setting", "requested"),
    [(False, "link"), (True, "parent")],
    ids=["link-over-parent", "parent-over-link"],
)
async def test_an_async_trigger_overrides_the_task_setting(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    task_setting: bool,
    requested: Relationship,
) -> None:
    instrument(always(task_setting))

    with tracer_provider.get_tracer("tests").start_as_current_span("caller"), trace_relationship(requested):
        await app.child.aio_run(wait_for_result=False)
    [sent] = engine.triggers
    await worker.run("child:work", sent.additional_metadata)

    span = step_span(exporter, "child:work")
    if requested == "link":
        assert_linked_root(span, sent)
    else:
        assert_child_of(span, sent)


def test_sync_triggers_carry_the_override(
    instrument: InstrumentFactory, app: App, engine: RecordingEngine, tracer_provider: TracerProvider
) -> None:
    instrument(None)

    with tracer_provider.get_tracer("tests").start_as_current_span("caller"), trace_relationship("link"):
        app.child.run(wait_for_result=False)
        with pytest.warns(DeprecationWarning, match="run_no_wait"):
            app.child.run_no_wait()
        app.child.run_many([app.child.create_bulk_run_item()] * 2, wait_for_result=False)
        app.hatchet.event.push("user:created", {})
    app.child.run(wait_for_result=False)  # outside the block: no override

    *overridden, plain = engine.triggers
    assert len(overridden) == 4
    for sent in [*overridden, *engine.events]:
        span_id = sent.additional_metadata["traceparent"].split("-")[2]
        assert sent.additional_metadata[RELATIONSHIP_METADATA_KEY] == f"link:{span_id}"
    assert RELATIONSHIP_METADATA_KEY not in plain.additional_metadata


async def test_grandchildren_do_not_inherit_an_override(
    instrument: InstrumentFactory,
    worker: Worker,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(None)
    with tracer_provider.get_tracer("tests").start_as_current_span("caller"), trace_relationship("link"):
        await app.async_child.aio_run(wait_for_result=False)
    [to_child] = engine.triggers

    await worker.run("async-child:work", to_child.additional_metadata)  # spawns child:work
    _, to_grandchild = engine.triggers
    await worker.run("child:work", to_grandchild.additional_metadata)

    assert_linked_root(step_span(exporter, "async-child:work"), to_child)
    # Hatchet copied the override into the grandchild's metadata, but it was not written for that run.
    assert RELATIONSHIP_METADATA_KEY in to_grandchild.additional_metadata
    assert_child_of(step_span(exporter, "child:work"), to_grandchild)


async def test_override_reaches_children_spawned_on_the_durable_path(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(None)

    with trace_relationship("link"):
        await worker.run("durable:wait-and-spawn", {})

    [spawn] = spans_named(exporter, "hatchet.run_workflow")
    [children] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
    metadata = children.children[0].run_workflow_opts.additional_metadata
    assert ids_in(metadata["traceparent"])[1] == spawn.context.span_id  # type: ignore[union-attr]
    assert metadata[RELATIONSHIP_METADATA_KEY] == f"link:{spawn.context.span_id:016x}"  # type: ignore[union-attr]


def test_unknown_relationship_is_rejected() -> None:
    with pytest.raises(ValueError, match="'link' or 'parent'"), trace_relationship("child"):  # type: ignore[arg-type]
        pass

"""Link vs parent semantics of HatchetInstrumentor on the real hatchet-sdk worker path."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from hatchet_trace_flags import SPAWN_LINK_ATTRIBUTE
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import (
    SPAWNER,
    SPAWNER_SPAN_ID,
    SPAWNER_TRACE_ID,
    UNSAMPLED_SPAWNER,
    ids_in,
    step_span,
)
from tests.support.worker.worker import Worker


def only_link_for(*action_ids: str):  # type: ignore[no-untyped-def]
    return lambda action_id: action_id in action_ids


def trace_of(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


async def test_link_mode_starts_a_new_trace_linked_to_the_spawner(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(only_link_for("child:work"))

    await worker.run("child:work", {"traceparent": SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is None
    assert span.kind is SpanKind.CONSUMER
    assert trace_of(span) != SPAWNER_TRACE_ID
    [link] = span.links
    assert link.context.trace_id == SPAWNER_TRACE_ID
    assert link.context.span_id == SPAWNER_SPAN_ID
    assert dict(link.attributes or {}) == {SPAWN_LINK_ATTRIBUTE: "spawned_by"}


async def test_parent_mode_keeps_the_spawner_as_parent(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(only_link_for("some-other:task"))

    await worker.run("child:work", {"traceparent": SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)
    assert span.links == ()


async def test_predicate_gets_the_action_id_once_per_step_run(
    instrument: InstrumentFactory, worker: Worker
) -> None:
    calls: list[str] = []

    def predicate(action_id: str) -> bool:
        calls.append(action_id)
        return True

    instrument(predicate)
    await worker.run("child:work", {"traceparent": SPAWNER})
    await worker.run("async-child:work", {"traceparent": SPAWNER})

    assert calls == ["child:work", "async-child:work"]


@pytest.mark.parametrize(
    ("predicate", "complaint"),
    [
        (lambda action_id: 1 / 0, "raised ZeroDivisionError"),
        (lambda action_id: "yes", "returned 'yes', not a bool"),
        (lambda action_id: None, "returned None, not a bool"),
    ],
    ids=["raises", "returns-str", "returns-none"],
)
async def test_a_broken_predicate_means_parent_mode_and_one_warning_per_task(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    predicate: object,
    complaint: str,
) -> None:
    instrument(predicate)

    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        for _ in range(3):
            await worker.run("child:work", {"traceparent": SPAWNER})
        await worker.run("async-child:work", {"traceparent": SPAWNER})

    runs = spans_named(exporter, "hatchet.start_step_run")
    assert len(runs) == 4
    assert all(span.parent is not None and span.parent.span_id == SPAWNER_SPAN_ID for span in runs)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings
    assert "child:work" in warnings[0]
    assert complaint in warnings[0]
    assert "async-child:work" in warnings[1]


async def test_link_mode_without_traceparent_is_a_root_without_links(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(only_link_for("child:work"))

    with tracer_provider.get_tracer("tests").start_as_current_span("ambient"):
        await worker.run("child:work", {})

    span = step_span(exporter, "child:work")
    assert span.parent is None
    assert span.links == ()


async def test_parent_mode_without_traceparent_parents_on_the_ambient_span_like_upstream(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(only_link_for("some-other:task"))

    with tracer_provider.get_tracer("tests").start_as_current_span("ambient") as ambient:
        await worker.run("child:work", {})

    span = step_span(exporter, "child:work")
    assert span.parent is not None
    assert span.parent.span_id == ambient.get_span_context().span_id


async def test_link_mode_ignores_an_ambient_span_even_with_a_traceparent(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(only_link_for("child:work"))

    with tracer_provider.get_tracer("tests").start_as_current_span("ambient"):
        await worker.run("child:work", {"traceparent": SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is None
    assert [link.context.span_id for link in span.links] == [SPAWNER_SPAN_ID]


@pytest.mark.parametrize("garbage", ["not-a-traceparent", "00-zz-yy-01", f"00-{0:032x}-{0:016x}-01", 42])
@pytest.mark.parametrize("link_mode", [True, False])
async def test_garbage_traceparent_gives_a_root_without_links(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    garbage: object,
    link_mode: bool,
) -> None:
    instrument(lambda action_id: link_mode)

    await worker.run("child:work", {"traceparent": garbage})

    span = step_span(exporter, "child:work")
    assert span.parent is None
    assert span.links == ()


async def test_unsampled_spawner_is_still_linked_and_the_new_root_sampled_by_default(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(only_link_for("child:work"))

    await worker.run("child:work", {"traceparent": UNSAMPLED_SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is None
    [link] = span.links
    assert not link.context.trace_flags.sampled
    assert span.context is not None
    assert span.context.trace_flags.sampled


async def test_everything_a_link_mode_async_task_does_belongs_to_its_new_trace(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter, engine: RecordingEngine
) -> None:
    instrument(only_link_for("async-child:work"))

    await worker.run("async-child:work", {"traceparent": SPAWNER})

    root = step_span(exporter, "async-child:work")
    [user] = spans_named(exporter, "user.async-work")
    [trigger] = spans_named(exporter, "hatchet.run_workflow")
    assert {trace_of(root), trace_of(user), trace_of(trigger)} == {trace_of(root)}
    assert user.parent is not None
    assert user.parent.span_id == root.context.span_id
    assert trigger.parent is not None
    assert trigger.parent.span_id == user.context.span_id
    # The child it spawned will link (or parent) to this trace, not to the original spawner.
    [sent] = engine.triggers
    assert ids_in(sent.additional_metadata["traceparent"]) == (trace_of(root), trigger.context.span_id)  # type: ignore[union-attr]


async def test_spans_of_a_sync_task_in_link_mode_stay_in_the_new_trace(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter, engine: RecordingEngine
) -> None:
    instrument(only_link_for("sync-parent:spawn"))

    await worker.run("sync-parent:spawn", {"traceparent": SPAWNER})

    root = step_span(exporter, "sync-parent:spawn")
    [user] = spans_named(exporter, "user.sync-spawn")
    triggers = spans_named(exporter, "hatchet.run_workflow") + spans_named(exporter, "hatchet.run_workflows")
    assert user.parent is not None
    assert user.parent.span_id == root.context.span_id
    assert len(triggers) == 2
    assert {trace_of(span) for span in [root, user, *triggers]} == {trace_of(root)}
    assert len(engine.triggers) == 3
    assert {ids_in(sent.additional_metadata["traceparent"])[0] for sent in engine.triggers} == {
        trace_of(root)
    }


async def test_durable_wait_and_spawn_belong_to_the_new_trace_in_link_mode(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(only_link_for("durable:wait-and-spawn"))

    await worker.run("durable:wait-and-spawn", {"traceparent": SPAWNER})

    root = step_span(exporter, "durable:wait-and-spawn")
    [spawn] = spans_named(exporter, "hatchet.run_workflow")
    [wait] = spans_named(exporter, "hatchet.durable.wait_for")
    for span in (spawn, wait):
        assert span.parent is not None
        assert span.parent.span_id == root.context.span_id
    # The spawned child carries this trace's traceparent instead of inheriting the original spawner's.
    [children_event] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
    [child] = children_event.children
    traceparent = child.run_workflow_opts.additional_metadata["traceparent"]
    assert ids_in(traceparent) == (trace_of(root), spawn.context.span_id)  # type: ignore[union-attr]
    assert len(worker.durable_listener.sent) == 2  # the wait was sent too (and failed: no engine)


async def test_durable_wait_and_spawn_follow_upstream_in_parent_mode(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(None)

    await worker.run("durable:wait-and-spawn", {"traceparent": SPAWNER})

    for name in ("hatchet.run_workflow", "hatchet.durable.wait_for"):
        [span] = spans_named(exporter, name)
        assert span.parent is not None
        assert span.parent.span_id == SPAWNER_SPAN_ID
    [children_event] = [event for event in worker.durable_listener.sent if hasattr(event, "children")]
    assert "traceparent" not in children_event.children[0].run_workflow_opts.additional_metadata

"""Both ends of a link can be searched: a linked root names its spawner, a trigger span the runs it created.

Real triggers go over gRPC to the stand-in engine (which answers run and schedule ids like Hatchet's), real
starts through hatchet-sdk's ``Runner``; the attributes are read from the real OTel SDK's exported spans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hatchet_sdk import Hatchet
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags._instrumentation.backlinks import (
    CHILD_RUN_ID,
    CHILD_RUN_IDS,
    MAX_NAMED_RUNS,
    SCHEDULE_IDS,
    SPAWNER_RUN_ID,
    SPAWNER_SPAN_ID,
    SPAWNER_TRACE_ID,
)
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.paths import DOCS
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import SPAWNER, ids_of, only, step_span
from tests.support.worker.traces import SPAWNER_SPAN_ID as SPAN_ID
from tests.support.worker.traces import SPAWNER_TRACE_ID as TRACE_ID
from tests.support.worker.worker import Worker, start_action

BACKLINKS = (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID, SPAWNER_RUN_ID)


def trigger_span_of(exporter: InMemorySpanExporter, run_id: str) -> ReadableSpan:
    return only(
        [
            span
            for span in spans_named(exporter, "hatchet.run_workflow")
            if span.attributes and span.attributes.get(CHILD_RUN_ID) == run_id
        ]
    )


async def test_a_linked_child_and_the_trigger_that_created_it_name_each_other(
    instrument: InstrumentFactory, worker: Worker, engine: RecordingEngine, exporter: InMemorySpanExporter
) -> None:
    instrument(lambda action_id: True)  # link mode for every task
    parent = await worker.run("parent:spawn", {"traceparent": SPAWNER})

    # Each trigger span names the run the engine answered it created.
    assert sorted(
        str(span.attributes[CHILD_RUN_ID])
        for span in spans_named(exporter, "hatchet.run_workflow")
        if span.attributes
    ) == ["run-1", "run-2", "run-3"]

    # The engine starts run-2 with what its trigger sent, as the child of the parent's run.
    sent = engine.triggers[1].additional_metadata
    child = start_action("child:work", sent).model_copy(
        update={"workflow_run_id": "run-2", "parent_workflow_run_id": parent.workflow_run_id}
    )
    assert await worker.runner.handle_start_step_run(child) is None

    root = step_span(exporter, "child:work")
    trigger = trigger_span_of(exporter, "run-2")
    trace_id, span_id = ids_of(trigger)
    assert root.parent is None
    assert root.attributes is not None
    assert root.attributes[SPAWNER_TRACE_ID] == f"{trace_id:032x}"
    assert root.attributes[SPAWNER_SPAN_ID] == f"{span_id:016x}"
    assert root.attributes[SPAWNER_RUN_ID] == parent.workflow_run_id
    assert root.attributes["hatchet.workflow_run_id"] == "run-2"
    # And the parent's own start span names the spawner it was linked to.
    parent_root = step_span(exporter, "parent:spawn")
    assert parent_root.attributes is not None
    assert parent_root.attributes[SPAWNER_TRACE_ID] == f"{TRACE_ID:032x}"
    assert parent_root.attributes[SPAWNER_SPAN_ID] == f"{SPAN_ID:016x}"
    assert SPAWNER_RUN_ID not in parent_root.attributes  # not a child run: no spawning run to name


async def test_parent_mode_has_no_backlinks(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(lambda action_id: False)

    await worker.run("child:work", {"traceparent": SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is not None
    assert not set(BACKLINKS) & set(span.attributes or {})


async def test_single_and_bulk_runs_from_a_sync_task_name_their_runs(
    instrument: InstrumentFactory, worker: Worker, engine: RecordingEngine, exporter: InMemorySpanExporter
) -> None:
    instrument(lambda action_id: False)

    await worker.run("sync-parent:spawn", {})

    single = only(spans_named(exporter, "hatchet.run_workflow"))
    bulk = only(spans_named(exporter, "hatchet.run_workflows"))
    assert single.attributes is not None
    assert single.attributes[CHILD_RUN_ID] == "run-1"
    assert bulk.attributes is not None
    assert list(bulk.attributes[CHILD_RUN_IDS]) == ["run-2", "run-3"]


@pytest.mark.parametrize("link_mode", [True, False], ids=["link", "parent"])
async def test_children_spawned_from_a_durable_task_are_named(
    instrument: InstrumentFactory, worker: Worker, app: App, exporter: InMemorySpanExporter, link_mode: bool
) -> None:
    app.seen.fan_out = 3
    instrument(lambda action_id: link_mode)  # link: our durable wrapper; parent: hatchet-sdk's

    await worker.run("durable:spawn-many", {"traceparent": SPAWNER})

    bulk = only(spans_named(exporter, "hatchet.run_workflows"))
    assert bulk.attributes is not None
    assert list(bulk.attributes[CHILD_RUN_IDS]) == ["child-0", "child-1", "child-2"]


async def test_a_schedule_names_its_schedules_and_an_event_push_names_nothing(
    instrument: InstrumentFactory,
    hatchet: Hatchet,
    app: App,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    instrument(lambda action_id: False)

    with tracer_provider.get_tracer("tests").start_as_current_span("caller"):
        app.child.schedule(datetime.now(UTC) + timedelta(hours=1))
        hatchet.event.push("order:created", {})

    schedule = only(spans_named(exporter, "hatchet.schedule_workflow"))
    assert schedule.attributes is not None
    assert list(schedule.attributes[SCHEDULE_IDS]) == ["schedule-1"]
    assert len(engine.schedules) == 1
    push = only(spans_named(exporter, "hatchet.push_event"))
    assert not {CHILD_RUN_ID, CHILD_RUN_IDS, SCHEDULE_IDS} & set(push.attributes or {})


def test_the_docs_name_every_backlink_attribute() -> None:
    text = (DOCS / "backlinks.md").read_text()
    for name in (*BACKLINKS, CHILD_RUN_ID, CHILD_RUN_IDS, SCHEDULE_IDS):
        assert f"| `{name}` |" in text, name
    assert f"the first {MAX_NAMED_RUNS}" in text


async def test_a_traceparent_with_leading_blanks_gives_the_same_backlinks(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(lambda action_id: True)

    await worker.run("child:work", {"traceparent": f" \t{SPAWNER}"})  # W3C allows leading blanks

    attributes = step_span(exporter, "child:work").attributes or {}
    assert attributes[SPAWNER_TRACE_ID] == f"{TRACE_ID:032x}"
    assert attributes[SPAWNER_SPAN_ID] == f"{SPAN_ID:016x}"

"""Hatchet's own run view stays whole in link mode: the engine gets a parent-shaped copy, the user the link
shape.

A real OTLP gRPC collector applying the engine's filing, lookup and re-parenting rules stands in for the
engine (tests/support/worker/engine_collector.py); hatchet-sdk's real worker path runs a family four
generations deep: spawner -> child -> grandchild -> great-grandchild, each generation a task that triggers the
next, with link mode at generations 1 and 3 (and the mirror image: 2), in async and sync tasks.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags._instrumentation.backlinks import SPAWNER_SPAN_ID, SPAWNER_TRACE_ID
from tests.support.engine.engine_collector import EngineCollector
from tests.support.engine.engine_view_fixtures import EngineInstrumentFactory
from tests.support.engine.family_app import FamilyApp, Flavour, action_id
from tests.support.engine.family_runs import DispatchedRun, dispatch_all, view_problems
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.traceparents import parse_traceparent
from tests.support.worker.worker import Worker

FAMILY_KEY = "hatchet_trace_flags.traceparent"
FLAVOURS = pytest.mark.parametrize("flavour", ["async", "sync"])
LINKED = pytest.mark.parametrize("linked", [{1, 3}, {2}], ids=["child-and-great-grandchild", "grandchild"])


def shape(spans: tuple[ReadableSpan, ...], runs: list[DispatchedRun]) -> list[tuple[object, ...]]:
    """The user's traces without ids: each span by name and generation, its parent, its links, its trace."""
    generation = {run.action.step_run_id: index for index, run in enumerate(runs)}

    def label(span: ReadableSpan) -> str:
        step_run_id = (span.attributes or {}).get("hatchet.step_run_id")
        return f"{span.name}/gen{generation[step_run_id]}" if step_run_id in generation else span.name

    by_id = {span.context.span_id: span for span in spans if span.context is not None}
    traces: dict[int, int] = {}
    rows: list[tuple[object, ...]] = []
    for span in sorted(spans, key=lambda span: span.start_time or 0):
        assert span.context is not None
        trace = traces.setdefault(span.context.trace_id, len(traces))
        parent = None if span.parent is None else by_id.get(span.parent.span_id)
        parent_label = None if span.parent is None else ("missing" if parent is None else label(parent))
        links = tuple(sorted(label(by_id[link.context.span_id]) for link in span.links))
        rows.append((label(span), parent_label, links, trace))
    return sorted(rows, key=str)


async def run_family(
    flavour: Flavour,
    linked: set[int],
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    worker: Worker,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    **options: object,
) -> list[DispatchedRun]:
    linked_actions = {action_id(flavour, generation) for generation in linked}
    engine_instrument(lambda action: action in linked_actions, **options)
    with tracer_provider.get_tracer("tests.client").start_as_current_span("client.request"):
        family.generations[flavour][0].run(wait_for_result=False)
    runs = await dispatch_all(worker, engine)
    assert len(runs) == 4
    assert tracer_provider.force_flush()
    return runs


@FLAVOURS
@LINKED
async def test_each_run_view_is_one_tree_holding_all_of_its_worker_spans(
    flavour: Flavour,
    linked: set[int],
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    runs = await run_family(
        flavour, linked, engine_instrument, family, family_worker, engine, tracer_provider
    )
    user_spans = exporter.get_finished_spans()
    (client,) = [span for span in user_spans if span.name == "client.request"]
    assert client.context is not None
    for generation, run in enumerate(runs):
        assert view_problems(collector, run, user_spans, client.context.trace_id) == [], generation


@FLAVOURS
@LINKED
async def test_the_users_exporter_gets_exactly_the_link_shape_of_today(
    flavour: Flavour,
    linked: set[int],
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    collector: EngineCollector,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    runs = await run_family(
        flavour, linked, engine_instrument, family, family_worker, engine, tracer_provider
    )
    with_view = shape(exporter.get_finished_spans(), runs)
    linked_starts = [row for row in with_view if str(row[0]).startswith("hatchet.start_step_run") and row[2]]
    assert len(linked_starts) == len(linked)
    # Every run was triggered with the family's trace in traceparent and the link shape in our key.
    family_trace = parse_traceparent(runs[0].metadata["traceparent"])
    assert family_trace is not None
    for run in runs[1:]:
        engine_parent = parse_traceparent(run.metadata["traceparent"])
        own = parse_traceparent(run.metadata[FAMILY_KEY])
        assert engine_parent is not None
        assert own is not None
        assert engine_parent[0] == family_trace[0]
        assert engine_parent[1:] == own[1:]  # the same trigger span, sampled alike, in the two shapes

    # Today: the switch off. The user's backend gets the same shape; the metadata has no key of ours.
    engine_instrument.uninstrument_all()  # type: ignore[attr-defined]
    exporter.clear()
    engine.triggers.clear()
    collector.clear()
    today = await run_family(
        flavour,
        linked,
        engine_instrument,
        family,
        family_worker,
        engine,
        tracer_provider,
        hatchet_run_view=False,
    )
    assert with_view == shape(exporter.get_finished_spans(), today)
    assert all(FAMILY_KEY not in run.metadata for run in today)
    # ... and Hatchet's view of every linked run is split, as the issue measured: what the switch is for.
    user_spans = exporter.get_finished_spans()
    family_trace = parse_traceparent(today[0].metadata["traceparent"])
    assert family_trace is not None
    for generation in linked:
        assert view_problems(collector, today[generation], user_spans, family_trace[0]) != [], generation


@FLAVOURS
async def test_a_linked_roots_backlinks_name_the_span_its_link_points_to(
    flavour: Flavour,
    engine_instrument: EngineInstrumentFactory,
    family: FamilyApp,
    family_worker: Worker,
    engine: RecordingEngine,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    # The great-grandchild's traceparent names the family's trace (for the engine) while its link and its
    # backlinks must name the link-shaped trigger span in the child's own trace.
    await run_family(flavour, {1, 3}, engine_instrument, family, family_worker, engine, tracer_provider)
    linked_roots = [
        span
        for span in exporter.get_finished_spans()
        if span.name.startswith("hatchet.start_step_run") and span.links
    ]
    assert len(linked_roots) == 2
    for root in linked_roots:
        attributes = root.attributes or {}
        (link,) = root.links
        assert attributes[SPAWNER_TRACE_ID] == format(link.context.trace_id, "032x")
        assert attributes[SPAWNER_SPAN_ID] == format(link.context.span_id, "016x")

"""``bench_instrumentor``'s figures timed alone, outside a task start: a busy machine drowns 1 µs in a 40 µs
start, not in a loop of the one thing measured. The engine copy on the span-ending and export threads, the
trace map's hold and release, and the decision event and backlinks around a bare span start."""

from __future__ import annotations

import itertools
import time
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Link, SpanContext, TraceFlags

from hatchet_trace_flags._decisions.evaluation_event import record_evaluation
from hatchet_trace_flags._decisions.task_decision import TaskDecider
from hatchet_trace_flags._engine_view.processor import EngineBound, EngineCopy, EngineCopyProcessor
from hatchet_trace_flags._engine_view.traces import EngineTraces
from hatchet_trace_flags._engine_view.view import EngineView
from hatchet_trace_flags._instrumentation.backlinks import with_backlinks
from hatchet_trace_flags._instrumentation.links import start_context

ROUNDS = 5


def ended_span(provider: TracerProvider) -> ReadableSpan:
    """A linked start span as a run ends it: ten attributes and the spawn link."""
    spawner = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1))
    span = provider.get_tracer("bench").start_span(
        "hatchet.start_step_run",
        attributes={f"hatchet.attribute_{index}": "value" for index in range(10)},
        links=[Link(spawner, {"hatchet.link": "spawned_by"})],
    )
    span.end()
    return span  # type: ignore[return-value]


def encoder_reads(span: ReadableSpan) -> None:
    """What the engine's OTLP exporter reads from a span to encode it (its trace encoder, field by field)."""
    context = span.get_span_context()
    assert context is not None
    _ = (context.trace_id, context.span_id, context.trace_state, span.parent, span.parent)
    _ = (span.name, span.kind, span.start_time, span.end_time, span.attributes, span.events, span.links)
    _ = (span.status, span.dropped_attributes, span.dropped_events, span.dropped_links)
    _ = (span.resource, span.instrumentation_scope)


def time_engine_copy(rounds: int = ROUNDS, calls: int = 100_000) -> tuple[float, float, float]:
    """The engine copy alone (µs per span): on the thread that ends a span, for a span of a linked run and for
    any other span (each minus handing the span straight to the same processor), and on the export thread,
    the rewrite of a span of a linked run with what the OTLP encoder then reads from it, minus the same reads
    of the span itself (which stock's exporter does too)."""
    provider = TracerProvider()
    linked, other = ended_span(provider), ended_span(provider)
    assert linked.context is not None
    view = EngineView(EngineTraces(grace=60.0), None)
    target = view.traces.hold(linked.context.trace_id, 0xE0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0, 0x00F067AA0BA902B7)
    engine = SpanProcessor()  # what the engine's batch processor does with a span is the same either way
    wrapped = EngineCopyProcessor(engine, view)
    best = [float("inf")] * 3
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(calls):
            engine.on_end(linked)
        direct = time.perf_counter_ns() - started
        for index, span in enumerate((linked, other)):
            started = time.perf_counter_ns()
            for _ in range(calls):
                wrapped.on_end(span)
            best[index] = min(best[index], (time.perf_counter_ns() - started - direct) / calls / 1000)
        bounds = [EngineBound(linked, target) for _ in range(calls // 10)]
        started = time.perf_counter_ns()
        for _ in range(calls // 10):
            encoder_reads(linked)
        stock = time.perf_counter_ns() - started
        started = time.perf_counter_ns()
        for bound in bounds:
            encoder_reads(EngineCopy(bound))
        best[2] = min(best[2], (time.perf_counter_ns() - started - stock) / (calls // 10) / 1000)
    provider.shutdown()
    return best[0], best[1], best[2]


def time_trace_map(seen: int = 150_000, calls: int = 2_000) -> tuple[float, float]:
    """The trace map's hold and release of one linked run (µs), fresh and after ``seen`` linked traces, when
    the map is at its bound and the forgotten ones are too (a worker that has run for a while)."""
    traces = EngineTraces(grace=60.0)
    trace_ids = itertools.count(1)

    def timed() -> float:
        started = time.perf_counter_ns()
        for trace_id in itertools.islice(trace_ids, calls):
            traces.hold(trace_id, 0xE0E0, 0x5151)
            traces.release(trace_id)
        return (time.perf_counter_ns() - started) / calls / 1000

    fresh = timed()
    for trace_id in itertools.islice(trace_ids, seen):
        traces.hold(trace_id, 0xE0E0, 0x5151)
        traces.release(trace_id)
    return fresh, timed()


def time_event_and_backlinks_alone(
    attributes: dict[str, Any], spawner: str, rounds: int = ROUNDS, calls: int = 20_000
) -> tuple[float, float]:
    """What the decision event and the backlinks add to a start span with ``attributes`` linked to
    ``spawner`` (a traceparent), timed around a bare start+end."""
    tracer = TracerProvider().get_tracer("bench")
    decided = TaskDecider(lambda action_id: True, events=True).decide("fanout-worker:process-item", {})
    context, links = start_context(True, spawner)
    best = {"plain": float("inf"), "event": float("inf"), "backlinks": float("inf")}
    for _ in range(rounds):  # interleaved, each variant's best round: load hits all three alike
        started = time.perf_counter_ns()
        for _ in range(calls):
            tracer.start_span("start", context, attributes=attributes, links=links).end()
        best["plain"] = min(best["plain"], time.perf_counter_ns() - started)
        started = time.perf_counter_ns()
        for _ in range(calls):
            span = tracer.start_span("start", context, attributes=attributes, links=links)
            record_evaluation(span, decided)
            span.end()
        best["event"] = min(best["event"], time.perf_counter_ns() - started)
        started = time.perf_counter_ns()
        for _ in range(calls):
            backlinked = with_backlinks(attributes, links, "workflow-run", spawner)
            tracer.start_span("start", context, attributes=backlinked, links=links).end()
        best["backlinks"] = min(best["backlinks"], time.perf_counter_ns() - started)
    per_call = {name: nanoseconds / calls / 1000 for name, nanoseconds in best.items()}
    return per_call["event"] - per_call["plain"], per_call["backlinks"] - per_call["plain"]

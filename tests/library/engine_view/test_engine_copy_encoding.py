"""The engine's copy is a view of the span, not a copy: what the engine's OTLP exporter encodes from it.

The copy reads the span's own name, attributes, events, status, times and resource, with the engine's ids
and the root parented on its spawner. These tests encode it with the OTLP exporter's own encoder, as the
engine exporter does, and compare it with the span the user's exporter gets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, StatusCode, TraceFlags, set_span_in_context

from hatchet_trace_flags._engine_view.processor import (
    EngineBound,
    EngineCopy,
    EngineCopyExporter,
    EngineCopyProcessor,
    engine_copy,
)
from hatchet_trace_flags._engine_view.traces import EngineTraces
from hatchet_trace_flags._engine_view.view import EngineView

ENGINE_TRACE = 0xE0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0
SPAWNER = 0x5151515151515151


def run_linked_trace() -> tuple[dict[str, ReadableSpan], dict[str, ReadableSpan]]:
    """A linked start span with a child, through the engine copy; (the user's spans, the engine's)."""
    user, engine = InMemorySpanExporter(), InMemorySpanExporter()
    view = EngineView(EngineTraces(grace=60.0), None)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(user))
    provider.add_span_processor(EngineCopyProcessor(SimpleSpanProcessor(EngineCopyExporter(engine)), view))
    tracer = provider.get_tracer("tests")
    spawner = SpanContext(0xABC, SPAWNER, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    other = SpanContext(0xDEF, 0x77, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    root = tracer.start_span(
        "hatchet.start_step_run",
        attributes={"hatchet.step_run_id": "step-run", "hatchet.retry_count": 0},
        links=[Link(spawner, {"hatchet.link": "spawned_by"}), Link(other)],
    )
    view.traces.hold(root.get_span_context().trace_id, ENGINE_TRACE, SPAWNER)
    root.add_event("feature_flag.evaluation", {"feature_flag.result.variant": "link"})
    with tracer.start_as_current_span("user.work", context=set_span_in_context(root)) as work:
        work.set_status(StatusCode.ERROR, "it broke")
    root.end()
    provider.shutdown()
    return by_name(user.get_finished_spans()), by_name(engine.get_finished_spans())


def by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def encoded(span: ReadableSpan) -> dict[str, Any]:
    [resource_spans] = encode_spans([span]).resource_spans
    [scope_spans] = resource_spans.scope_spans
    [message] = scope_spans.spans
    return {
        "trace_id": message.trace_id.hex(),
        "span_id": message.span_id.hex(),
        "parent_span_id": message.parent_span_id.hex(),
        "flags": message.flags,
        "links": [(link.trace_id.hex(), link.span_id.hex()) for link in message.links],
        "rest": [
            message.name,
            message.kind,
            message.start_time_unix_nano,
            message.end_time_unix_nano,
            list(message.attributes),
            list(message.events),
            message.status,
            message.dropped_attributes_count,
            message.dropped_events_count,
            message.dropped_links_count,
        ],
        "scope": scope_spans.scope.name,
        "resource": list(resource_spans.resource.attributes),
    }


def test_the_engine_exporter_encodes_the_span_in_the_engines_trace_and_nothing_else_changes() -> None:
    user, engine = run_linked_trace()
    assert all(isinstance(span, EngineCopy) for span in engine.values())
    root, work = encoded(engine["hatchet.start_step_run"]), encoded(engine["user.work"])
    user_root, user_work = encoded(user["hatchet.start_step_run"]), encoded(user["user.work"])
    assert root["trace_id"] == work["trace_id"] == f"{ENGINE_TRACE:032x}"
    assert (root["span_id"], work["span_id"]) == (user_root["span_id"], user_work["span_id"])
    assert root["parent_span_id"] == f"{SPAWNER:016x}"  # the engine re-parents it under its run span
    assert work["parent_span_id"] == user_work["parent_span_id"] == root["span_id"]
    assert root["links"] == [("00000000000000000000000000000def", "0000000000000077")]  # the spawn link goes
    assert user_root["links"][0] == ("00000000000000000000000000000abc", f"{SPAWNER:016x}")
    for ours, theirs in ((root, user_root), (work, user_work)):
        assert ours["rest"] == theirs["rest"]
        assert (ours["scope"], ours["resource"]) == (theirs["scope"], theirs["resource"])


def test_it_reads_as_the_plain_readable_span_it_stands_for() -> None:
    _, engine = run_linked_trace()
    for copy in engine.values():
        assert isinstance(copy, EngineCopy)
        built = engine_copy(EngineBound(copy.span, copy.target))
        assert type(built) is ReadableSpan
        assert json.loads(copy.to_json()) == json.loads(built.to_json())
        assert encoded(copy) == encoded(built)
        assert copy.get_span_context() == built.get_span_context()
        assert tuple(copy.links) == tuple(built.links)

"""Traceparents, span ids and span lookups shared by the span-shape tests."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SPAWNER_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAWNER_SPAN_ID = 0x00F067AA0BA902B7
SPAWNER = f"00-{SPAWNER_TRACE_ID:032x}-{SPAWNER_SPAN_ID:016x}-01"
UNSAMPLED_SPAWNER = f"00-{SPAWNER_TRACE_ID:032x}-{SPAWNER_SPAN_ID:016x}-00"


def traceparent(sampled: bool = True) -> str:
    """A spawner's traceparent, as a trigger writes it into ``additional_metadata``."""
    return f"00-{SPAWNER_TRACE_ID:032x}-{SPAWNER_SPAN_ID:016x}-{'01' if sampled else '00'}"


def ids_in(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def ids_of(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


def only(spans: list[ReadableSpan]) -> ReadableSpan:
    [span] = spans
    return span


def step_span(exporter: InMemorySpanExporter, action_id: str) -> ReadableSpan:
    """The one ``hatchet.start_step_run`` span of ``action_id``."""
    [span] = [
        span
        for span in exporter.get_finished_spans()
        if span.name == "hatchet.start_step_run"
        and span.attributes
        and span.attributes.get("hatchet.action_name") == action_id
    ]
    return span

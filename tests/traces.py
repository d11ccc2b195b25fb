"""Traceparents and span ids for the span-shape tests of batch starts, bulk runs and sampling."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

SPAWNER_TRACE_ID = 0x5C1A0C9E53E54B7E9C1A6E0B8F4D2A17
SPAWNER_SPAN_ID = 0x1F2E3D4C5B6A7988


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

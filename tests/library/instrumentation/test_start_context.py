"""A start span's spawner, read from the run's traceparent: exactly what the W3C propagator reads.

``links`` reads a plain version-00 traceparent itself (a tenth of the propagator's cost, on every task
start) and leaves everything else to the propagator; for any value, the result must be the propagator's.
"""

from __future__ import annotations

import pytest
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from hatchet_trace_flags._instrumentation.links import spawner_of, start_context
from tests.support.traceparents import TRACEPARENTS


def propagators(traceparent: str) -> SpanContext:
    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    return get_current_span(context).get_span_context()


@pytest.mark.parametrize("traceparent", TRACEPARENTS)
def test_the_spawner_is_what_the_propagator_reads(traceparent: str) -> None:
    expected = propagators(traceparent)
    assert spawner_of(traceparent) == (expected if expected.is_valid else None)


@pytest.mark.parametrize("traceparent", [value for value in TRACEPARENTS if value])
def test_the_parent_mode_context_is_what_the_propagator_extracts(traceparent: str) -> None:
    context, links = start_context(False, traceparent)
    assert links is None
    assert isinstance(context, Context)
    assert get_current_span(context).get_span_context() == propagators(traceparent)

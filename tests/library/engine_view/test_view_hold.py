"""A linked start hands `EngineView.hold` the spawner its link was parsed from: what parsing holds."""

from __future__ import annotations

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from hatchet_trace_flags._engine_view.traces import EngineTraces
from hatchet_trace_flags._engine_view.view import EngineView
from hatchet_trace_flags._instrumentation.links import spawner_of
from tests.support.traceparents import TRACEPARENTS


def held(traceparent: object, parsed: bool) -> tuple[int | None, list[tuple[int, int]]]:
    view = EngineView(EngineTraces(grace=60.0), None)
    span = TracerProvider().get_tracer("tests").start_span("hatchet.start_step_run", Context())
    trace_id = view.hold(span, traceparent, spawner_of(traceparent) if parsed else None)
    targets = [(target.engine_trace_id, target.spawner_span_id) for target in view.traces.targets.values()]
    return (None if trace_id is None else 1), targets


@pytest.mark.parametrize("traceparent", [*TRACEPARENTS, None, 7])
def test_a_parsed_spawner_holds_what_parsing_the_traceparent_holds(traceparent: object) -> None:
    assert held(traceparent, parsed=True) == held(traceparent, parsed=False)


def test_a_span_in_the_spawners_own_trace_holds_nothing() -> None:
    view = EngineView(EngineTraces(grace=60.0), None)
    traceparent = TRACEPARENTS[0]
    spawner = spawner_of(traceparent)
    assert spawner is not None
    tracer = TracerProvider().get_tracer("tests")
    span = tracer.start_span("hatchet.start_step_run", set_span_in_context(NonRecordingSpan(spawner)))
    assert view.hold(span, traceparent, spawner) is None
    assert view.hold(span, traceparent) is None
    assert not view.traces.targets

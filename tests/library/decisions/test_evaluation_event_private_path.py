"""The decision event goes through the OTel SDK's private ``Span._add_event``: pinned against the public call.

``record_evaluation`` hands the SDK a prebuilt ``Event`` whose attributes were validated once per decision,
instead of ``add_event``, which validates them again on every task start. These tests fail loudly when the
installed OpenTelemetry SDK (the newest and, under ``make test-lowest``, 1.35) changes that method, and show
that the public call takes over whenever the private one would not record the same event.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags._decisions import evaluation_event
from hatchet_trace_flags._decisions.evaluation_event import EVALUATION_EVENT, evaluation, record_evaluation

DECIDED = evaluation(
    "fanout-worker:process-item", True, "pattern", provider_name="rules", version="rev-7", rule="fanout-*"
)


class Traced:
    def __init__(self, limits: SpanLimits | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(span_limits=limits)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def recorded(self) -> ReadableSpan:
        span = self.tracer.start_span("hatchet.start_step_run")
        record_evaluation(span, DECIDED)
        span.end()
        return self.exporter.get_finished_spans()[-1]

    def public(self) -> ReadableSpan:
        span = self.tracer.start_span("hatchet.start_step_run")
        span.add_event(EVALUATION_EVENT, DECIDED.attributes)
        span.end()
        return self.exporter.get_finished_spans()[-1]


@pytest.fixture
def traced() -> Iterator[Traced]:
    built = Traced()
    yield built
    built.provider.shutdown()


def test_the_sdk_still_has_the_private_add_event_this_library_uses(traced: Traced) -> None:
    assert evaluation_event._private_events, (
        "opentelemetry-sdk no longer has Span._add_event: the decision event now takes the public add_event "
        "(~3 µs more per task start); see hatchet_trace_flags/_decisions/evaluation_event.py"
    )
    [event] = traced.recorded().events
    assert event.attributes is DECIDED.event_attributes(), (
        "the decision event did not go through Span._add_event with its prebuilt attributes: "
        "opentelemetry-sdk changed Span._add_event (see hatchet_trace_flags/_decisions/evaluation_event.py)"
    )


def test_the_private_path_records_exactly_what_the_public_add_event_records(traced: Traced) -> None:
    private, public = traced.recorded(), traced.public()
    [ours], [theirs] = private.events, public.events
    assert ours.name == theirs.name == EVALUATION_EVENT
    assert dict(ours.attributes or {}) == dict(theirs.attributes or {}) == dict(DECIDED.attributes)
    assert type(ours.attributes) is type(theirs.attributes)
    assert ours.dropped_attributes == theirs.dropped_attributes == 0
    with pytest.raises(TypeError):  # immutable, as the public call makes it
        ours.attributes["feature_flag.key"] = "changed"  # type: ignore[index]
    assert private.start_time is not None
    assert private.end_time is not None
    assert private.start_time <= ours.timestamp <= private.end_time
    assert private.dropped_events == public.dropped_events == 0


def test_span_limits_that_would_change_the_event_take_the_public_call() -> None:
    traced = Traced(SpanLimits(max_attribute_length=4, max_event_attributes=3))
    try:
        private, public = traced.recorded(), traced.public()
    finally:
        traced.provider.shutdown()
    [ours], [theirs] = private.events, public.events
    assert ours.attributes is not DECIDED.event_attributes()
    assert dict(ours.attributes or {}) == dict(theirs.attributes or {})
    assert len(ours.attributes or {}) == 3
    assert all(len(str(value)) <= 4 for value in (ours.attributes or {}).values())


def test_without_the_private_method_the_public_call_records_the_same_event(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_event, "_private_events", False)
    [event] = traced.recorded().events
    assert event.attributes is not DECIDED.event_attributes()
    assert (event.name, dict(event.attributes or {})) == (EVALUATION_EVENT, dict(DECIDED.attributes))


def test_a_changed_private_signature_falls_back_to_the_public_call(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SdkSpan._add_event

    def changed(self: SdkSpan, name: str, attributes: object, timestamp: int | None) -> None:
        raise AssertionError("a new SDK's private method, never called with one Event")

    def add_event(self: SdkSpan, name: str, attributes: object = None, timestamp: int | None = None) -> None:
        # That SDK's public add_event, built on its own private method (today's, here).
        monkeypatch.setattr(SdkSpan, "_add_event", original)
        try:
            SdkSpan.add_event(self, name, attributes, timestamp)  # type: ignore[arg-type]
        finally:
            monkeypatch.setattr(SdkSpan, "_add_event", changed)

    monkeypatch.setattr(SdkSpan, "_add_event", changed)
    monkeypatch.setattr(evaluation_event, "_private_events", True)
    span = traced.tracer.start_span("hatchet.start_step_run")
    monkeypatch.setattr(span, "add_event", add_event.__get__(span))
    record_evaluation(span, DECIDED)
    monkeypatch.setattr(SdkSpan, "_add_event", original)
    span.end()
    [event] = traced.exporter.get_finished_spans()[-1].events
    assert (event.name, dict(event.attributes or {})) == (EVALUATION_EVENT, dict(DECIDED.attributes))
    assert evaluation_event._private_events is False  # from now on, the public call

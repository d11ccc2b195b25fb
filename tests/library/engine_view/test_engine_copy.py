"""The engine's processor, wrapped: its exporter alone gets the rewritten copy; unknown link shapes stay
out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from hatchet_trace_flags._engine_view.processor import EngineCopyExporter, EngineCopyProcessor
from hatchet_trace_flags._engine_view.traces import EngineTraces
from hatchet_trace_flags._engine_view.view import LEFT_OUT_METRIC, EngineView

ENGINE_TRACE = 0xE0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0
SPAWNER = 0x5151515151515151


class Setup:
    def __init__(self, meter_provider: MeterProvider) -> None:
        self.user = InMemorySpanExporter()
        self.engine = InMemorySpanExporter()
        self.view = EngineView(EngineTraces(grace=0.0, max_entries=1), meter_provider)
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.user))
        engine_processor = BatchSpanProcessor(EngineCopyExporter(self.engine))
        self.provider.add_span_processor(EngineCopyProcessor(engine_processor, self.view))
        self.tracer = self.provider.get_tracer("tests")

    def flush(self) -> None:
        assert self.provider.force_flush()


@pytest.fixture
def setup(meter_provider: MeterProvider) -> Iterator[Setup]:
    built = Setup(meter_provider)
    yield built
    built.provider.shutdown()


def left_out(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    counts: dict[str, int] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == LEFT_OUT_METRIC:
                    for point in metric.data.data_points:
                        counts[str(point.attributes["kind"])] = int(point.value)  # type: ignore[index]
    return counts


def test_the_engine_gets_the_linked_trace_in_its_own_trace_and_the_user_gets_it_as_it_is(
    setup: Setup,
) -> None:
    spawner = SpanContext(0xABC, SPAWNER, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    root = setup.tracer.start_span(
        "hatchet.start_step_run", links=[Link(spawner, {"hatchet.link": "spawned_by"})]
    )
    own_trace = root.get_span_context().trace_id
    setup.view.traces.hold(own_trace, ENGINE_TRACE, SPAWNER)
    with setup.tracer.start_as_current_span("user.work", context=set_span_in_context(root)):
        pass
    root.end()
    setup.view.traces.release(own_trace)
    setup.flush()

    user = {span.name: span for span in setup.user.get_finished_spans()}
    engine = {span.name: span for span in setup.engine.get_finished_spans()}
    assert user["hatchet.start_step_run"].parent is None
    assert [link.context.span_id for link in user["hatchet.start_step_run"].links] == [SPAWNER]
    assert {span.context.trace_id for span in user.values()} == {own_trace}  # type: ignore[union-attr]
    assert {span.context.trace_id for span in engine.values()} == {ENGINE_TRACE}  # type: ignore[union-attr]
    for name in user:
        assert engine[name].context.span_id == user[name].context.span_id  # type: ignore[union-attr]
    start = engine["hatchet.start_step_run"]
    assert start.parent is not None
    assert (start.parent.trace_id, start.parent.span_id) == (ENGINE_TRACE, SPAWNER)
    assert start.links == ()
    work = engine["user.work"]
    assert work.parent is not None
    assert (work.parent.trace_id, work.parent.span_id) == (ENGINE_TRACE, start.context.span_id)  # type: ignore[union-attr]


def test_a_span_of_a_forgotten_linked_trace_is_left_out_and_counted(
    setup: Setup, reader: InMemoryMetricReader
) -> None:
    linked = setup.tracer.start_span("hatchet.start_step_run")
    setup.view.traces.hold(linked.get_span_context().trace_id, ENGINE_TRACE, SPAWNER)
    linked.end()
    setup.view.traces.release(linked.get_span_context().trace_id)
    other = setup.tracer.start_span(
        "hatchet.start_step_run.other"
    )  # its hold drops the first (bound 1, grace 0)
    setup.view.traces.hold(other.get_span_context().trace_id, ENGINE_TRACE, SPAWNER)
    with setup.tracer.start_as_current_span(
        "late", context=set_span_in_context(NonRecordingSpan(linked.get_span_context()))
    ):
        pass
    with setup.tracer.start_as_current_span("unrelated"):
        pass
    other.end()
    setup.flush()

    assert sorted(span.name for span in setup.user.get_finished_spans()) == [
        "hatchet.start_step_run",
        "hatchet.start_step_run.other",
        "late",
        "unrelated",
    ]
    engine = {span.name: span for span in setup.engine.get_finished_spans()}
    assert sorted(engine) == ["hatchet.start_step_run", "hatchet.start_step_run.other", "unrelated"]
    assert engine["hatchet.start_step_run"].context.trace_id == ENGINE_TRACE  # type: ignore[union-attr]
    unrelated = next(span for span in setup.user.get_finished_spans() if span.name == "unrelated")
    assert engine["unrelated"] is unrelated  # not a copy: spans of other traces pass as they are
    assert left_out(reader) == {"span": 1}


def test_a_trigger_in_a_forgotten_linked_trace_leaves_the_engine_no_link_shaped_traceparent(
    setup: Setup, reader: InMemoryMetricReader
) -> None:
    setup.view.traces.hold(0xAAA, ENGINE_TRACE, SPAWNER)
    linked = f"00-{0xAAA:032x}-{0x1234:016x}-01"
    assert setup.view.family_metadata({"traceparent": linked, "k": "v"}) == {
        "traceparent": f"00-{ENGINE_TRACE:032x}-{0x1234:016x}-01",
        "hatchet_trace_flags.traceparent": linked,
        "k": "v",
    }
    setup.view.traces.release(0xAAA)
    setup.view.traces.hold(0xBBB, ENGINE_TRACE, SPAWNER)  # forgets 0xAAA
    stale = {
        "traceparent": linked,
        "hatchet_trace_flags.traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    }
    assert setup.view.family_metadata(stale) == {}
    assert left_out(reader) == {"trigger": 1}
    native = f"00-{0xCCC:032x}-{0x1234:016x}-01"
    assert setup.view.family_metadata({"traceparent": native, "hatchet_trace_flags.traceparent": linked}) == {
        "traceparent": native,
        "hatchet_trace_flags.traceparent": native,
    }

"""Trigger spans and samplers: attributes reach a sampler that may read them; sampled-out spans build none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hatchet_sdk import Hatchet
from opentelemetry.context import Context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, use_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from hatchet_trace_flags import FollowSpawnerSampler, HatchetInstrumentor
from hatchet_trace_flags._instrumentation.sampling import ignores_attributes
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, ProviderFactory, spans_named


class AttributeReadingSampler(Sampler):
    """A sampler of the kind some users write: it decides on span attributes, so it must see them."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if name == "hatchet.run_workflow":
            self.seen.append(dict(attributes or {}))
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "AttributeReadingSampler"


def unsampled_parent() -> NonRecordingSpan:
    context = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(0))
    return NonRecordingSpan(context)


def test_which_samplers_ignore_attributes() -> None:
    assert ignores_attributes(ParentBased(ALWAYS_ON))
    assert ignores_attributes(FollowSpawnerSampler(ParentBased(ALWAYS_ON)))
    assert not ignores_attributes(AttributeReadingSampler())
    assert not ignores_attributes(ParentBased(AttributeReadingSampler()))
    assert not ignores_attributes(FollowSpawnerSampler(ParentBased(AttributeReadingSampler())))
    assert not ignores_attributes(None)


def test_a_sampler_that_may_read_attributes_sees_them_at_start(
    instrument: InstrumentFactory,
    hatchet: Hatchet,
    app: App,
    provider_with: ProviderFactory,
    exporter: InMemorySpanExporter,
) -> None:
    sampler = AttributeReadingSampler()
    instrument(None, tracer_provider=provider_with(sampler))

    app.child.run(wait_for_result=False, additional_metadata={"tenant": "acme"})

    assert sampler.seen == [
        {
            "instrumentor": "hatchet",
            "hatchet.workflow_name": "child",
            "hatchet.additional_metadata": '{"tenant": "acme"}',
        }
    ]
    (span,) = spans_named(exporter, "hatchet.run_workflow")
    assert dict(span.attributes or {}) == sampler.seen[0]


def test_a_sampled_out_trigger_builds_no_attributes(
    instrument: InstrumentFactory,
    hatchet: Hatchet,
    app: App,
    provider_with: ProviderFactory,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instrumentor: HatchetInstrumentor = instrument(
        None, tracer_provider=provider_with(ParentBased(ALWAYS_ON))
    )
    built: list[str] = []
    original = instrumentor._trigger_attributes

    def counting(workflow_name: str, payload: str | None, options: Any) -> dict[str, Any]:
        built.append(workflow_name)
        return original(workflow_name, payload, options)

    monkeypatch.setattr(instrumentor, "_trigger_attributes", counting)

    with use_span(unsampled_parent()):
        for _ in range(3):
            app.child.run(wait_for_result=False)
    assert built == []
    assert spans_named(exporter, "hatchet.run_workflow") == []

    app.child.run(wait_for_result=False)  # a sampled root: attributes as usual
    assert built == ["child"]
    (span,) = spans_named(exporter, "hatchet.run_workflow")
    assert span.attributes == {"instrumentor": "hatchet", "hatchet.workflow_name": "child"}

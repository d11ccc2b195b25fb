"""A sampler that keeps linked roots in step with the span that spawned them.

In link mode a task's ``hatchet.start_step_run`` span is a new root, so by default the tracer provider's
sampler makes a fresh decision for it. With a ratio sampler that is usually what you want: each child trace is
sampled on its own. When you would rather keep a fan-out together (a sampled-out parent does not produce
thousands of sampled children, a sampled parent keeps all of its children), wrap your sampler:

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from hatchet_trace_flags import FollowSpawnerSampler

    provider = TracerProvider(sampler=FollowSpawnerSampler(ParentBased(TraceIdRatioBased(0.1))))

A span with a parent, or a root without our spawn link, goes to the wrapped sampler unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    StaticSampler,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from hatchet_trace_flags._instrumentation.links import SPAWN_LINK_ATTRIBUTE, SPAWN_LINK_VALUE

_DEFAULT_DELEGATE = ParentBased(StaticSampler(Decision.RECORD_AND_SAMPLE))


class FollowSpawnerSampler(Sampler):
    """Samples a linked root exactly when the span that spawned it was sampled."""

    def __init__(self, delegate: Sampler = _DEFAULT_DELEGATE) -> None:
        self._delegate = delegate

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
        if links and not get_current_span(parent_context).get_span_context().is_valid:
            for link in links:
                if link.attributes and link.attributes.get(SPAWN_LINK_ATTRIBUTE) == SPAWN_LINK_VALUE:
                    decision = (
                        Decision.RECORD_AND_SAMPLE if link.context.trace_flags.sampled else Decision.DROP
                    )
                    return SamplingResult(decision, attributes, trace_state)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"FollowSpawnerSampler{{{self._delegate.get_description()}}}"


_SDK_SAMPLERS_MODULE = Sampler.__module__


def ignores_attributes(sampler: object) -> bool:
    """True when ``sampler`` decides without looking at span attributes: the OTel SDK's own samplers and ours,
    however nested. Then a span may be started bare and given its attributes only if it is recording, so a
    sampled-out span never has them built. Any other sampler may read them, so they go in at start."""
    if not isinstance(sampler, Sampler):
        return False
    if type(sampler).__module__ != _SDK_SAMPLERS_MODULE and not isinstance(sampler, FollowSpawnerSampler):
        return False
    nested = [value for value in vars(sampler).values() if isinstance(value, Sampler)]
    return all(ignores_attributes(inner) for inner in nested)

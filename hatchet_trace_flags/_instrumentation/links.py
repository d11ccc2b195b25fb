"""Where a worker-side start span begins: the spawner as parent, or a linked root.

The step-run and batch-start wrappers both start their span from the traceparent a trigger wrote into the
run's ``additional_metadata``; this module is the one place that turns it into a parent context or a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from hatchet_trace_flags._engine_view.traceparents import plain_ids
from hatchet_trace_flags._triggers.relationship import TRACEPARENT_METADATA_KEY

# One small attribute, so a trace viewer says why the link exists (each link attribute costs ~1 µs).
SPAWN_LINK_ATTRIBUTE: Final = "hatchet.link"
SPAWN_LINK_VALUE: Final = "spawned_by"
_SPAWN_LINK_ATTRIBUTES: Final = {SPAWN_LINK_ATTRIBUTE: SPAWN_LINK_VALUE}

_propagator: Final = TraceContextTextMapPropagator()


def spawn_link(spawner: SpanContext) -> Link:
    return Link(spawner, _SPAWN_LINK_ATTRIBUTES)


def spawner_of(traceparent: object) -> SpanContext | None:
    """The span context a traceparent names, or ``None`` when it is missing or invalid."""
    if not isinstance(traceparent, str) or not traceparent:
        return None
    ids = plain_ids(traceparent)
    if ids is not None:  # what the propagator would read, without its general pattern and Context
        return SpanContext(ids[0], ids[1], True, TraceFlags(ids[2]))
    context = _propagator.extract({TRACEPARENT_METADATA_KEY: traceparent})
    span_context = get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def start_context(link_mode: bool, traceparent: object) -> tuple[Context | None, Sequence[Link] | None]:
    """The ``context`` and ``links`` to start a run's span with.

    Link mode: an empty context (a true root: no ambient span can become the parent) and one link to the
    spawner, when the traceparent names one. Parent mode: hatchet-sdk's choice, the spawner as parent; a
    non-string traceparent (upstream would crash) is garbage like any other, so a root; none: ``None``, the
    ambient context.
    """
    if link_mode:
        spawner = spawner_of(traceparent)
        return Context(), ((spawn_link(spawner),) if spawner is not None else ())
    if isinstance(traceparent, str) and traceparent:
        ids = plain_ids(traceparent)
        if ids is not None:
            spawner = SpanContext(ids[0], ids[1], True, TraceFlags(ids[2]))
            return set_span_in_context(NonRecordingSpan(spawner), Context()), None
        return _propagator.extract({TRACEPARENT_METADATA_KEY: traceparent}), None
    if traceparent:
        return Context(), None
    return None, None

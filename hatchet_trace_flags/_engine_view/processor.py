"""The engine's span processor, wrapped: the engine's exporter gets a parent-shaped copy of linked runs.

The OpenTelemetry SDK hands the same span to every processor of a provider, so the rewrite cannot happen on
the span. :class:`EngineCopyProcessor` sits around hatchet-sdk's own engine processor (a batch processor
that copies the step run's ``hatchet.*`` attributes onto every span); every other processor, the user's own
exporters among them, still gets the span exactly as it is, in the link shape.

On the thread that ends a span it only decides (one dict lookup): a span of a mapped trace goes into the
batch queue as an :class:`EngineBound` record carrying its target; a span of a forgotten linked trace is
left out and counted; anything else goes in as it is. :class:`EngineCopyExporter`, on the export thread,
turns each record into the engine's copy, an :class:`EngineCopy` (new ids; the rest is read from the span):
the engine's trace id, the same span ids, and for the trace's root (the linked start span) the spawning span
as parent, so the engine re-parents it under its own run span. The spawn link is dropped from the copy: the
engine stores no links, and in that shape the spawner is the parent.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final

from hatchet_sdk.opentelemetry import instrumentor as _stock
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status
from opentelemetry.util.types import Attributes

from hatchet_trace_flags._engine_view.traces import EngineTarget, EngineTraces
from hatchet_trace_flags._engine_view.view import EngineView

__all__ = [
    "EngineBound",
    "EngineCopy",
    "EngineCopyExporter",
    "EngineCopyProcessor",
    "engine_copy",
    "engine_view_of",
    "grace_for",
    "install_engine_copy",
]


class EngineBound:
    """A span that the engine gets in its own trace, with the target decided when the span ended."""

    __slots__ = ("context", "span", "target")

    def __init__(self, span: ReadableSpan, target: EngineTarget) -> None:
        self.span = span
        self.target = target
        self.context = span.context  # all a batch processor reads before queueing (the sampled flag)


class EngineCopy(ReadableSpan):
    """The engine's copy of a span, made on the export thread: in the engine's trace, same span ids, the root
    (the linked start span) parented on its spawner and without the link to it.

    A view, not a copy: only the ids are new; everything else is read from the span itself when an exporter
    reads it (building a new ``ReadableSpan`` copied the events and links under their locks, ~1 µs more per
    span). It reads as a ``ReadableSpan`` does.
    """

    __slots__ = ("_drops_spawn_link", "_engine_context", "_engine_links", "_engine_parent", "span", "target")

    def __init__(self, bound: EngineBound) -> None:  # ReadableSpan's is not run: nothing of it is used
        self.span = span = bound.span
        self.target = target = bound.target
        trace_id = target.engine_trace_id
        own = span.context
        assert own is not None
        self._engine_context = SpanContext(trace_id, own.span_id, False, own.trace_flags, own.trace_state)
        self._engine_links: Sequence[Link] | None = None
        self._drops_spawn_link = False
        parent = span.parent
        if parent is not None:
            self._engine_parent: SpanContext | None = SpanContext(
                trace_id, parent.span_id, parent.is_remote, parent.trace_flags, parent.trace_state
            )
        elif target.spawner_span_id:
            # The linked start span: its spawner becomes its parent, and the link to it goes.
            self._engine_parent = SpanContext(trace_id, target.spawner_span_id, True, own.trace_flags)
            self._drops_spawn_link = True  # the links are filtered when an exporter reads them
        else:
            self._engine_parent = None

    @property
    def context(self) -> SpanContext:
        return self._engine_context

    def get_span_context(self) -> SpanContext:
        return self._engine_context

    @property
    def parent(self) -> SpanContext | None:
        return self._engine_parent

    @property
    def links(self) -> Sequence[Link]:
        links = self._engine_links
        if links is None:
            if not self._drops_spawn_link:
                return self.span.links
            spawner = self.target.spawner_span_id
            links = self._engine_links = tuple(
                link for link in self.span.links if link.context.span_id != spawner
            )
        return links

    @property
    def dropped_links(self) -> int:
        return 0 if self._drops_spawn_link else self.span.dropped_links

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def kind(self) -> SpanKind:
        return self.span.kind

    @property
    def start_time(self) -> int | None:
        return self.span.start_time

    @property
    def end_time(self) -> int | None:
        return self.span.end_time

    @property
    def status(self) -> Status:
        return self.span.status

    @property
    def attributes(self) -> Attributes:
        return self.span.attributes

    @property
    def dropped_attributes(self) -> int:
        return self.span.dropped_attributes

    @property
    def events(self) -> Sequence[Event]:
        return self.span.events

    @property
    def dropped_events(self) -> int:
        return self.span.dropped_events

    @property
    def resource(self) -> Resource:
        return self.span.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope | None:
        return self.span.instrumentation_scope

    @property
    def instrumentation_info(self) -> Any:
        return self.span.instrumentation_info  # deprecated upstream; read through for old exporters

    def to_json(self, indent: int | None = 4) -> str:
        return str(engine_copy(EngineBound(self.span, self.target)).to_json(indent))


def engine_copy(bound: EngineBound) -> ReadableSpan:
    """The engine's copy of the span as a plain ``ReadableSpan``, built out (for ``to_json``)."""
    view = EngineCopy(bound)
    return ReadableSpan(
        name=view.name,
        context=view.context,
        parent=view.parent,
        resource=view.resource,
        attributes=view.attributes,
        events=view.events,
        links=view.links,
        kind=view.kind,
        status=view.status,
        start_time=view.start_time,
        end_time=view.end_time,
        instrumentation_scope=view.instrumentation_scope,
    )


class EngineCopyExporter(SpanExporter):
    """Exports the engine's copies: records become rewritten spans, other spans pass unchanged."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan | EngineBound]) -> SpanExportResult:
        copies = [EngineCopy(span) if isinstance(span, EngineBound) else span for span in spans]
        return self._inner.export(copies)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class EngineCopyProcessor(SpanProcessor):
    """Wraps the engine's processor; see the module documentation."""

    def __init__(self, engine_processor: SpanProcessor, view: EngineView) -> None:
        self.engine_processor = engine_processor
        self._view = view
        # Bound lookups of dicts that are never replaced: the cheapest test on the span-ending thread.
        self._target_of = view.traces.targets.get
        self._forgotten = view.traces.forgotten

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.engine_processor.on_start(span, parent_context)

    def _on_ending(self, span: Span) -> None:
        on_ending = getattr(self.engine_processor, "_on_ending", None)  # OpenTelemetry SDK 1.37 and later
        if on_ending is not None:
            on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        target = self._target_of(context.trace_id)
        if target is not None:
            self.engine_processor.on_end(EngineBound(span, target))  # type: ignore[arg-type]  # read as a span
        elif context.trace_id in self._forgotten:
            if context.trace_flags.sampled:
                self._view.span_left_out()
        else:
            self.engine_processor.on_end(span)

    def shutdown(self) -> None:
        self.engine_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.engine_processor.force_flush(timeout_millis)


_views: weakref.WeakKeyDictionary[Any, EngineView] = weakref.WeakKeyDictionary()
_DEFAULT_SCHEDULE_DELAY_MILLIS: Final = 5_000  # the OpenTelemetry SDK's, for a batch processor
_MIN_GRACE_SECONDS: Final = 60.0


def grace_for(bsp_kwargs: Mapping[str, Any]) -> float:
    """How long a linked trace stays known after its last run: well past the exporter's schedule delay."""
    delay = bsp_kwargs.get("schedule_delay_millis")
    if delay is None:
        delay = float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY") or _DEFAULT_SCHEDULE_DELAY_MILLIS)
    return max(_MIN_GRACE_SECONDS, 2 * float(delay) / 1000)


def install_engine_copy(instrumentor: Any, meter_provider: MeterProvider | None) -> EngineView | None:
    """Adds hatchet-sdk's engine processor and exporter to the instrumentor's provider, built as its
    ``_add_hatchet_exporter`` builds them (through the same module names), with the engine copy around and
    inside them. ``None``, adding nothing, when the provider is not the SDK's (hatchet-sdk then warns)."""
    provider = instrumentor.tracer_provider
    if not isinstance(provider, SDKTracerProvider):
        return None
    config = instrumentor.config
    otlp_exporter = _stock.OTLPSpanExporter(  # type: ignore[attr-defined]
        endpoint=config.host_port,
        headers=(("authorization", f"Bearer {config.token}"),),
        insecure=config.tls_config.strategy == "none",
        credentials=_stock.load_channel_credentials(config),  # type: ignore[attr-defined]
    )
    view = EngineView(
        EngineTraces(grace_for(instrumentor._bsp_kwargs)), meter_provider or NoOpMeterProvider()
    )
    inner = _stock._HatchetAttributeSpanProcessor(
        EngineCopyExporter(_stock._HatchetSpanExporter(otlp_exporter)), **instrumentor._bsp_kwargs
    )
    provider.add_span_processor(EngineCopyProcessor(inner, view))
    _views[provider] = view
    return view


def engine_view_of(provider: object) -> EngineView | None:
    """The view whose processor :func:`install_engine_copy` added to ``provider``, if any."""
    try:
        return _views.get(provider)
    except TypeError:  # not weak-referenceable: nothing was added to it
        return None

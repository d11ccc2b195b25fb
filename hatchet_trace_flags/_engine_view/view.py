"""``EngineView``: what keeps Hatchet's own run view whole while a worker traces runs with span links.

One per instrumentor whose engine exporter is on (and the ``hatchet_run_view`` switch not off). It holds the
map of linked traces (``traces``), counts what it has to leave out of the engine copy, and is what the
step-run wrapper and the triggers ask:

- at a run start, :meth:`hold` maps the run's own trace to the engine's trace for it (the trace of its
  metadata ``traceparent``) when they differ; :meth:`release` after the start span ended;
- at a trigger, :meth:`family_metadata` turns the metadata hatchet-sdk or we just wrote into the engine's
  shape (``traceparent`` in the engine's trace, the link shape in our key).

The triggers reach it through :func:`current` (one per process, like the instrumentor): trigger helpers are
plain functions that hatchet-sdk's own wrappers call too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import Span, SpanContext

from hatchet_trace_flags._engine_view.traceparents import (
    FAMILY_METADATA_KEY,
    TRACEPARENT_METADATA_KEY,
    in_trace,
    span_id_in,
    trace_id_in,
)
from hatchet_trace_flags._engine_view.traces import EngineTraces

__all__ = ["LEFT_OUT_METRIC", "EngineView", "current", "install"]

LEFT_OUT_METRIC: Final = "hatchet_trace_flags.engine_copy.left_out"
_KIND: Final = "kind"
_TRACEPARENT_LENGTH: Final = 55


class EngineView:
    def __init__(self, traces: EngineTraces, meter_provider: MeterProvider | None) -> None:
        self.traces = traces
        meter = get_meter("hatchet_trace_flags", meter_provider=meter_provider)
        self._left_out = meter.create_counter(
            LEFT_OUT_METRIC,
            unit="{item}",
            description=(
                "Spans and triggers of a linked trace that Hatchet's engine did not get, because this worker "
                "no longer knew the engine's trace for it (kind: span or trigger)."
            ),
        )

    def hold(self, span: Span, engine_traceparent: object, parsed: SpanContext | None = None) -> int | None:
        """Map ``span``'s trace to the engine's trace of ``engine_traceparent`` when they differ; the trace id
        to :meth:`release` afterwards, or ``None`` when nothing was held. ``parsed``: the span context the
        W3C propagator read from this very ``engine_traceparent`` (the spawn link's), which spares parsing it
        again on every linked start."""
        own_trace_id = span.get_span_context().trace_id
        if not isinstance(engine_traceparent, str) or own_trace_id == 0:
            return None
        if (
            parsed is not None
            and len(engine_traceparent) == _TRACEPARENT_LENGTH
            and engine_traceparent[:3] == "00-"
        ):
            # The propagator accepted it, so it is what trace_id_in accepts: lowercase hex, non-zero ids.
            if parsed.trace_id == own_trace_id:
                return None
            self.traces.hold(own_trace_id, parsed.trace_id, parsed.span_id)
            return own_trace_id
        if engine_traceparent[3:35] == f"{own_trace_id:032x}":
            return None  # one trace for both (parent mode): the cheap test first, on every task start
        engine_trace_id = trace_id_in(engine_traceparent)
        if engine_trace_id is None:
            return None  # the engine derives a trace of its own: nothing of ours to keep it apart from
        self.traces.hold(own_trace_id, engine_trace_id, span_id_in(engine_traceparent))
        return own_trace_id

    def release(self, own_trace_id: int) -> None:
        self.traces.release(own_trace_id)

    def span_left_out(self) -> None:
        self._left_out.add(1, {_KIND: "span"})

    def family_metadata(self, metadata: Mapping[str, Any]) -> Mapping[str, Any]:
        """``metadata`` as the engine must get it, given the ``traceparent`` a trigger just wrote into it."""
        traceparent = metadata.get(TRACEPARENT_METADATA_KEY)
        trace_id = trace_id_in(traceparent)
        if trace_id is None:
            if FAMILY_METADATA_KEY in metadata:  # an ancestor's, next to no traceparent of this trigger's
                return {key: value for key, value in metadata.items() if key != FAMILY_METADATA_KEY}
            return metadata
        assert isinstance(traceparent, str)
        return self.with_family(metadata, traceparent, trace_id)

    def with_family(self, metadata: Mapping[str, Any], traceparent: str, trace_id: int) -> dict[str, Any]:
        """:meth:`family_metadata` for a trigger that knows its traceparent and trace id (the hot path)."""
        target = self.traces.targets.get(trace_id)
        if target is not None:
            return {
                **metadata,
                TRACEPARENT_METADATA_KEY: in_trace(traceparent, target.engine_trace_id),
                FAMILY_METADATA_KEY: traceparent,
            }
        if trace_id in self.traces.forgotten:
            # Link-shaped, and this worker no longer knows the engine's trace for it: the engine gets no
            # traceparent from this trigger. (hatchet-sdk then gives a child the spawning run's pair, so it
            # still lands in the family, beside its spawner, in both views.)
            self._left_out.add(1, {_KIND: "trigger"})
            return {
                key: value
                for key, value in metadata.items()
                if key != TRACEPARENT_METADATA_KEY and key != FAMILY_METADATA_KEY
            }
        # Both shapes are one here. Written all the same: hatchet-sdk merges the spawning run's metadata into
        # a child's after the trigger wrappers ran, and an ancestor's value must not come back with it.
        return {**metadata, FAMILY_METADATA_KEY: traceparent}


_current: EngineView | None = None


def current() -> EngineView | None:
    """The view of the instrumented instrumentor, if its engine copy is on."""
    return _current


def install(view: EngineView | None) -> None:
    global _current
    _current = view

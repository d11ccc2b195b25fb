"""A stand-in for Hatchet's engine collector: a real OTLP gRPC TraceService with the engine's rules.

It is served by the stand-in engine (``hatchet_engine``), so hatchet-sdk's own engine exporter reaches it at
the client config's address, over real gRPC. It applies what section 7 of the field notes says the engine
does with a worker's spans (hatchet-dev/hatchet ``internal/services/otelcol``, ``pkg/repository/olap.go``):

- a span is filed under the task run its ``hatchet.step_run_id`` attribute names;
- the run -> trace lookup gets a row from the first span of an export that names the run, from the worker's
  exports and from the engine's own spans, whichever comes first; a row is never overwritten;
- the engine writes its own spans for a run (``hatchet.engine.workflow_run``, then ``hatchet.engine.
  start_step_run`` under it) in the trace of the run's metadata ``traceparent``, parented on the span it
  names (:meth:`EngineCollector.dispatch`, called when a test hands a run to the worker);
- a run's view is every span of the trace its row names; a worker's ``hatchet.start_step_run*`` span that
  has a parent is re-parented under the engine's ``workflow_run`` span of its run, one without stays a bare
  root; the tree is drawn by parent ids only. Links are not stored.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.support.worker.traceparents import parse_traceparent

STEP_RUN_ID = "hatchet.step_run_id"
START_SPAN_PREFIX = "hatchet.start_step_run"
ENGINE_RUN_SPAN = "hatchet.engine.workflow_run"
ENGINE_START_SPAN = "hatchet.engine.start_step_run"


@dataclass(frozen=True)
class StoredSpan:
    name: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    step_run_id: str | None
    from_engine: bool = False
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class RunView:
    """What Hatchet's run page shows for one run: one trace, drawn by parent ids."""

    step_run_id: str
    trace_id: int
    spans: dict[int, StoredSpan]  # span id -> span, as stored
    parents: dict[int, int | None]  # span id -> parent span id, after the engine's re-parenting

    def roots(self) -> list[StoredSpan]:
        return [self.spans[span_id] for span_id, parent in self.parents.items() if parent is None]

    def orphans(self) -> list[StoredSpan]:
        """Spans whose parent is not in the view (the UI cannot attach them)."""
        return [
            self.spans[span_id]
            for span_id, parent in self.parents.items()
            if parent is not None and parent not in self.spans
        ]

    def bare_start_spans(self) -> list[StoredSpan]:
        return [
            span
            for span_id, span in self.spans.items()
            if span.name.startswith(START_SPAN_PREFIX) and self.parents[span_id] is None
        ]


def _attribute_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind is not None else None


class EngineCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.spans: list[StoredSpan] = []
        self.lookup: dict[str, int] = {}  # step run id -> trace id
        self.run_spans: dict[str, int] = {}  # step run id -> the engine's workflow_run span id
        self.exports = 0

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.lookup.clear()
            self.run_spans.clear()
            self.exports = 0

    # -- the OTLP service -------------------------------------------------------------------------

    def Export(self, request: Any, context: Any) -> Any:
        batch = []
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {item.key: _attribute_value(item.value) for item in span.attributes}
                    step_run_id = attributes.get(STEP_RUN_ID)
                    if step_run_id is not None:
                        uuid.UUID(str(step_run_id))  # the engine parses it with uuid.MustParse
                    batch.append(
                        StoredSpan(
                            name=span.name,
                            trace_id=int.from_bytes(span.trace_id, "big"),
                            span_id=int.from_bytes(span.span_id, "big"),
                            parent_span_id=int.from_bytes(span.parent_span_id, "big") or None,
                            step_run_id=None if step_run_id is None else str(step_run_id),
                            attributes=attributes,
                        )
                    )
        with self._lock:
            self._store(batch)
            self.exports += 1
            self._lock.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def _store(self, batch: list[StoredSpan]) -> None:
        for span in batch:  # the first span of the batch that names a run fills its row; never overwritten
            if span.step_run_id is not None and span.step_run_id not in self.lookup:
                self.lookup[span.step_run_id] = span.trace_id
        self.spans.extend(batch)

    # -- the engine's own spans -------------------------------------------------------------------

    def dispatch(self, step_run_id: str, workflow_run_id: str, metadata: dict[str, Any]) -> None:
        """The engine's own spans of a run it hands to a worker, in the trace of its metadata traceparent."""
        parsed = parse_traceparent(metadata.get("traceparent"))
        if parsed is None:  # the engine derives a trace from the workflow run id
            trace_id, parent = uuid.uuid5(uuid.NAMESPACE_URL, workflow_run_id).int, None
        else:
            trace_id, parent = parsed[0], parsed[1]
        run_span = StoredSpan(ENGINE_RUN_SPAN, trace_id, random.getrandbits(64), parent, step_run_id, True)
        start_span = StoredSpan(
            ENGINE_START_SPAN, trace_id, random.getrandbits(64), run_span.span_id, step_run_id, True
        )
        with self._lock:
            self.run_spans[step_run_id] = run_span.span_id
            self._store([run_span, start_span])
            self._lock.notify_all()

    # -- what the UI shows ------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[EngineCollector], bool], timeout: float = 30.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: condition(self), timeout):
                raise AssertionError("the engine collector never got what the test waited for")

    def view(self, step_run_id: str) -> RunView:
        with self._lock:
            trace_id = self.lookup[step_run_id]
            spans = {span.span_id: span for span in self.spans if span.trace_id == trace_id}
            parents: dict[int, int | None] = {}
            for span_id, span in spans.items():
                parent = span.parent_span_id
                if (
                    not span.from_engine
                    and span.name.startswith(START_SPAN_PREFIX)
                    and parent is not None
                    and span.step_run_id in self.run_spans
                ):
                    parent = self.run_spans[span.step_run_id]
                parents[span_id] = parent
        return RunView(step_run_id, trace_id, spans, parents)

    def worker_spans(self, step_run_id: str) -> list[StoredSpan]:
        with self._lock:
            return [span for span in self.spans if span.step_run_id == step_run_id and not span.from_engine]

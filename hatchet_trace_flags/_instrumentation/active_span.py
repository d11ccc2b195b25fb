"""`active(span)`: what `opentelemetry.trace.use_span(span, end_on_exit=True)` does, as a plain class.

`use_span` is a generator-based context manager under a decorator; on the trigger hot path of a fan-out loop
those layers cost several microseconds per call. Behaviour is the same: the span is current inside the block,
an `Exception` escaping it is recorded and sets an ERROR status, and the span always ends.
"""

from __future__ import annotations

from types import TracebackType

from opentelemetry import context as context_api
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context


class active:
    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> Span:
        self._token = context_api.attach(set_span_in_context(self._span))
        return self._span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        try:
            context_api.detach(self._token)
            # Like use_span: only Exception subclasses are errors (not GeneratorExit, KeyboardInterrupt...).
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            span.end()

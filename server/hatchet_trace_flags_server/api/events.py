"""``GET /api/v1/events``: the change stream (Server-Sent Events).

Each change is ``event: change`` with ``id: <revision>`` and the JSON of the audit event. A client
that reconnects with ``Last-Event-ID`` gets the changes it missed replayed, or ``event: refetch``
(data: current revision and ETag) when they cannot be replayed. Heartbeats are SSE comments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hatchet_trace_flags_server.core.bodies import ErrorOut
from hatchet_trace_flags_server.core.records import ChangeEvent
from hatchet_trace_flags_server.http.app_state import Services
from hatchet_trace_flags_server.http.auth import ReadIdentity
from hatchet_trace_flags_server.http.dependencies import ServicesDep
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute
from hatchet_trace_flags_server.services.feed import REPLAY_LIMIT, Heartbeat, Refetch, Subscription

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["events"])

_RETRY_MS = 2000


_HEARTBEAT = b": heartbeat\n\n"
# The last few events as sent: the feed hands every follower the same event object, so its bytes
# are encoded once. Keyed by identity; the event is kept so that its id cannot be reused meanwhile.
_ENCODED: dict[int, tuple[ChangeEvent, bytes]] = {}
_ENCODED_KEEP = 64


def _change(event: ChangeEvent) -> bytes:
    entry = _ENCODED.get(id(event))
    if entry is not None and entry[0] is event:
        return entry[1]
    data = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
    encoded = f"event: change\nid: {event.revision}\ndata: {data}\n\n".encode()
    if len(_ENCODED) >= _ENCODED_KEEP:
        _ENCODED.clear()
    _ENCODED[id(event)] = (event, encoded)
    return encoded


def _refetch(item: Refetch) -> bytes:
    data = json.dumps({"revision": item.revision, "etag": item.etag}, separators=(",", ":"))
    return f"event: refetch\nid: {item.revision}\ndata: {data}\n\n".encode()


class _EventStreamResponse(StreamingResponse):
    """Ends the subscription however the response ends, even when the client left before the
    stream's first message (the generator, never started, would not run its ``finally``)."""

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


async def _stream(
    services: Services, subscription: Subscription, last_event_id: str | None
) -> AsyncIterator[bytes]:
    feed = services.feed
    services.metrics.stream_clients.inc()
    try:
        current = feed.snapshot
        sent = current.revision
        yield f"retry: {_RETRY_MS}\n: connected at revision {current.revision}\n\n".encode()
        if last_event_id is not None:
            try:
                resume_from = int(last_event_id)
            except ValueError:
                resume_from = -1
            if resume_from < 0 or resume_from > current.revision:
                yield _refetch(Refetch(current.revision, current.etag))
            elif resume_from < current.revision:
                missed = await services.flags.events_after(resume_from, limit=REPLAY_LIMIT)
                missed = [event for event in missed if event.revision <= current.revision]
                if [event.revision for event in missed] != list(range(resume_from + 1, current.revision + 1)):
                    yield _refetch(Refetch(current.revision, current.etag))
                else:
                    for event in missed:
                        yield _change(event)
        while True:
            # No timeout of its own: the feed's one heartbeat timer offers idle streams a HEARTBEAT.
            item = await subscription.next()
            if item is None:
                return
            if isinstance(item, Heartbeat):
                yield _HEARTBEAT
            elif isinstance(item, Refetch):
                sent = item.revision
                yield _refetch(item)
            elif item.revision > sent:
                sent = item.revision
                yield _change(item)
    finally:
        feed.unsubscribe(subscription)
        services.metrics.stream_clients.dec()


@router.get(
    "/events",
    summary="Change stream (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        429: {"model": ErrorOut, "description": "Too many open streams (per token or in all)"},
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "event: change (id = revision, data = audit event JSON), event: refetch, "
            "and ': heartbeat' comments",
        },
    },
)
async def events(
    identity: ReadIdentity,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    feed = services.feed
    # Here, not in the stream: over the caps the client gets a 429 instead of an empty stream.
    # Before reading the revision, so that no change can fall in between.
    subscription = feed.subscribe(identity.name)
    return _EventStreamResponse(
        _stream(services, subscription, last_event_id), on_close=lambda: feed.unsubscribe(subscription)
    )

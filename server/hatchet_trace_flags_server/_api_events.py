"""``GET /api/v1/events``: the change stream (Server-Sent Events).

Each change is ``event: change`` with ``id: <revision>`` and the JSON of the audit event. A client
that reconnects with ``Last-Event-ID`` gets the changes it missed replayed, or ``event: refetch``
(data: current revision and ETag) when they cannot be replayed. Heartbeats are SSE comments.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from ._auth import ReadIdentity
from ._feed import REPLAY_LIMIT, Refetch
from ._services import Services, ServicesDep
from ._store import ChangeEvent

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["events"])

_RETRY_MS = 2000


def _change(event: ChangeEvent) -> str:
    data = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
    return f"event: change\nid: {event.revision}\ndata: {data}\n\n"


def _refetch(item: Refetch) -> str:
    data = json.dumps({"revision": item.revision, "etag": item.etag}, separators=(",", ":"))
    return f"event: refetch\nid: {item.revision}\ndata: {data}\n\n"


async def _stream(services: Services, last_event_id: str | None) -> AsyncIterator[str]:
    feed = services.feed
    subscription = feed.subscribe()  # before reading the revision: nothing can fall in between
    services.metrics.stream_clients.inc()
    try:
        current = feed.snapshot
        sent = current.revision
        yield f"retry: {_RETRY_MS}\n: connected at revision {current.revision}\n\n"
        if last_event_id is not None:
            try:
                resume_from = int(last_event_id)
            except ValueError:
                resume_from = -1
            if resume_from < 0 or resume_from > current.revision:
                yield _refetch(Refetch(current.revision, current.etag))
            elif resume_from < current.revision:
                missed = await services.store.events_after(resume_from, limit=REPLAY_LIMIT)
                missed = [event for event in missed if event.revision <= current.revision]
                if [event.revision for event in missed] != list(range(resume_from + 1, current.revision + 1)):
                    yield _refetch(Refetch(current.revision, current.etag))
                else:
                    for event in missed:
                        yield _change(event)
        heartbeat = services.settings.heartbeat_seconds
        while True:
            try:
                item = await asyncio.wait_for(subscription.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if item is None:
                return
            if isinstance(item, Refetch):
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
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "event: change (id = revision, data = audit event JSON), event: refetch, "
            "and ': heartbeat' comments",
        }
    },
)
async def events(
    _identity: ReadIdentity,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    return StreamingResponse(
        _stream(services, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

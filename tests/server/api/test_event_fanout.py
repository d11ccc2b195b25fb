"""What an open change stream costs the server's event loop while it waits (issue 23): no timer of its
own. A timeout per stream, re-armed after every event, was 2,000 timers rescheduled per change with
2,000 followers; the feed's one heartbeat timer serves them all. (The fan-out's speed is measured in
``python -m benchmarks scale_streams``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from hatchet_trace_flags_server import Settings

from tests.support.server.live import READ_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.server.sse import SSEReader

pytestmark = pytest.mark.timeout(60)

STREAMS = 40


def _timers(loop: asyncio.AbstractEventLoop) -> int:
    # asyncio's own loop (the test server's; not uvloop): its heap of scheduled callbacks. A cancelled
    # timer stays in the heap until it comes due (asyncpg's statement timeouts on PostgreSQL leave
    # dozens), so only the live ones count.
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    return sum(1 for timer in scheduled if not timer.cancelled())


async def test_open_streams_schedule_no_timer_each_and_still_get_heartbeats(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(heartbeat_seconds=0.3))
    loop = live.server.servers[0].get_loop()
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN), timeout=30)
        )
        before = _timers(loop)
        streams = []
        for _ in range(STREAMS):
            response = await stack.enter_async_context(http.stream("GET", "/api/v1/events"))
            stream = SSEReader(response.aiter_lines())
            await stream.next()  # the greeting: the stream is waiting for its next item
            streams.append(stream)
        assert _timers(loop) - before < STREAMS // 4
        beats = await asyncio.gather(*(stream.next() for stream in streams))
        assert all(beat.comments == ["heartbeat"] for beat in beats)

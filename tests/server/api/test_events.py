"""The change stream: events on every change, heartbeats, Last-Event-ID, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from hatchet_trace_flags_server import Settings

from tests.support.server.live import READ_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.server.sse import SSEReader

pytestmark = pytest.mark.timeout(60)


async def test_each_change_is_one_event_with_revision_and_etag(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    async with reader.stream("GET", "/api/v1/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SSEReader(response.aiter_lines())
        hello = await stream.next()
        assert hello.retry is not None
        assert hello.comments == ["connected at revision 0"]

        await client.put("/api/v1/tasks/a:b", json={"mode": "link", "note": "go"})
        await client.put("/api/v1/patterns/a:*", json={"mode": "parent"})
        await client.patch("/api/v1/settings", json={"links_enabled": False})

        first = await stream.next_event()
        assert (first.event, first.id) == ("change", "1")
        data = first.json()
        assert data["revision"] == 1
        assert (data["kind"], data["key"], data["actor"], data["source"]) == ("task", "a:b", "alice", "api")
        assert data["before"] == {"mode": None, "note": None, "version": 0}
        assert data["after"] == {"mode": "link", "note": "go", "version": 1}
        assert data["at"]
        second = (await stream.next_event()).json()
        assert (second["kind"], second["key"]) == ("pattern", "a:*")
        third = (await stream.next_event()).json()
        assert (third["kind"], third["key"], third["revision"]) == ("settings", None, 3)
        assert third["after"]["links_enabled"] is False
        snapshot = await reader.get("/api/v1/snapshot")
        assert third["etag"] == snapshot.headers["etag"]


async def test_heartbeats_are_comments(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(heartbeat_seconds=0.05))
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as http,
        http.stream("GET", "/api/v1/events") as response,
    ):
        stream = SSEReader(response.aiter_lines())
        await stream.next()
        heartbeat = await stream.next()
        assert heartbeat.event is None
        assert heartbeat.comments == ["heartbeat"]


async def test_last_event_id_replays_missed_changes(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    for index in range(3):
        await client.put(f"/api/v1/tasks/t:{index}", json={"mode": "link"})
    async with reader.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "1"}) as response:
        stream = SSEReader(response.aiter_lines())
        replayed = [await stream.next_event(), await stream.next_event()]
        assert [(m.event, m.id, m.json()["key"]) for m in replayed] == [
            ("change", "2", "t:1"),
            ("change", "3", "t:2"),
        ]
        await client.put("/api/v1/tasks/t:3", json={"mode": "link"})
        live_event = await stream.next_event()
        assert live_event.id == "4"


@pytest.mark.parametrize("last_event_id", ["999", "-5", "not-a-number"])
async def test_unknown_last_event_id_means_refetch(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, last_event_id: str
) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    etag = (await reader.get("/api/v1/snapshot")).headers["etag"]
    async with reader.stream("GET", "/api/v1/events", headers={"Last-Event-ID": last_event_id}) as response:
        message = await SSEReader(response.aiter_lines()).next_event()
        assert message.event == "refetch"
        assert message.json() == {"revision": 1, "etag": etag}


async def test_no_event_when_nothing_changed(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    async with reader.stream("GET", "/api/v1/events") as response:
        stream = SSEReader(response.aiter_lines())
        await stream.next()
        await client.put("/api/v1/tasks/a:b", json={"mode": "link"})  # same: no change
        await client.delete("/api/v1/tasks/x:y")  # 404: no change
        await client.put("/api/v1/tasks/c:d", json={"mode": "parent"})
        assert (await stream.next_event()).json()["key"] == "c:d"


async def test_shutdown_ends_open_streams(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings())
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as http,
        http.stream("GET", "/api/v1/events") as response,
    ):
        stream = SSEReader(response.aiter_lines())
        await stream.next()
        await asyncio.to_thread(live.stop)  # would hang until the graceful timeout otherwise
        with pytest.raises(EOFError):
            await stream.next(within=5)

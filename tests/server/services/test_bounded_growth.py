"""Bounded growth: the discovered-task cap, per-token report rate limit, retention, "forget", and
the caps on open change streams."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import AsyncExitStack

import asyncpg
import httpx
import pytest
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.services.retention import RetentionSweep

from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.server.sse import SSEReader
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(60)

Start = Callable[..., LiveServer]


@pytest.fixture
def start(live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory) -> Start:
    def run(**overrides: object) -> LiveServer:
        return live_factory(make_settings(**overrides))

    return run


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}:task-{index:04d}" for index in range(count)]


async def _report(http: httpx.AsyncClient, action_ids: list[str], worker: str = "w1") -> httpx.Response:
    return await http.post("/api/v1/tasks/seen", json={"worker": worker, "action_ids": action_ids})


async def _discovered(http: httpx.AsyncClient) -> list[str]:
    page = (await http.get("/api/v1/tasks", params={"configured": "false", "limit": 1000})).json()
    return [item["action_id"] for item in page["items"]]


async def test_discovered_tasks_stop_at_the_cap_and_known_ones_still_refresh(start: Start) -> None:
    live = start(max_discovered_tasks=5)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        first = await _report(reader, _ids("a", 8))
        assert first.status_code == 200, first.text
        assert first.json() == {"recorded": 5, "ignored": 3}
        assert await _discovered(admin) == _ids("a", 5)  # the first five by name

        again = await _report(reader, [*_ids("a", 2), "b:new"], worker="w2")
        assert again.json() == {"recorded": 2, "ignored": 1}
        task = (await admin.get("/api/v1/tasks/a:task-0000")).json()
        assert task["last_worker"] == "w2"  # a known task is refreshed even when the table is full

        forgotten = await admin.post("/api/v1/tasks/forget", json={"action_ids": _ids("a", 2)})
        assert forgotten.json() == {"forgotten": 2}
        assert (await _report(reader, ["b:new"])).json() == {"recorded": 1}
        metrics = (await admin.get("/metrics")).text
        assert "hatchet_trace_flags_seen_ignored_total 4.0" in metrics


async def test_discovered_tasks_are_bounded_by_what_their_names_cost(start: Start) -> None:
    """Issue 27: a row's storage grows with its names (255-character names cost ~3 KB each), so the
    table is bounded in characters (action_id + worker name) as well as in rows."""
    live = start(max_discovered_characters=110)
    long_names = [f"c:{letter * 38}" for letter in "xyz"]  # 40 characters each, 42 with worker "w1"
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        assert (await _report(reader, long_names)).json() == {"recorded": 2, "ignored": 1}
        assert await _discovered(admin) == long_names[:2]
        # Short names still fit in what is left (84 of 110 characters used)...
        assert (await _report(reader, ["d:123456", "e:123456", "f:123456"])).json() == {
            "recorded": 2,
            "ignored": 1,
        }
        # ...known tasks are still refreshed when nothing more fits...
        assert (await _report(reader, [long_names[0]], worker="w2")).json() == {"recorded": 1}
        assert (await admin.get(f"/api/v1/tasks/{long_names[0]}")).json()["last_worker"] == "w2"
        # ...but a longer worker name that would not fit is not written over them.
        long_worker = "host-" + "w" * 60
        assert (await _report(reader, [long_names[0]], worker=long_worker)).json() == {"recorded": 1}
        assert (await admin.get(f"/api/v1/tasks/{long_names[0]}")).json()["last_worker"] == "w2"


async def test_reports_are_rate_limited_per_token_with_retry_after(start: Start) -> None:
    live = start(seen_rate=2.0, seen_burst=1000)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        assert (await _report(reader, _ids("a", 1000))).status_code == 200
        refused = await _report(reader, _ids("b", 10))
        assert refused.status_code == 429, refused.text
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 5  # ten action_ids at two per second
        assert "retry after" in refused.json()["detail"]
        assert "b:task-0000" not in await _discovered(admin)  # a refused report records nothing
        # Until Retry-After has passed, even a report that would fit is refused (before its body
        # is read): a worker that ignores Retry-After cannot keep the service busy.
        again = await _report(reader, ["b:one"])
        assert again.status_code == 429
        assert 1 <= int(again.headers["retry-after"]) <= retry_after
        # Another token has its own budget.
        assert (await _report(admin, _ids("c", 10))).status_code == 200


async def test_an_insight_report_from_a_token_told_to_wait_is_refused_before_its_body_is_read(
    start: Start,
) -> None:
    """Issue 27: /tasks/insights read and validated the whole body before its rate limit. The request
    below announces a megabyte and sends ten bytes: only a refusal that does not read the body answers."""
    live = start(seen_rate=0.1, seen_burst=1000)  # told to wait for 100 s: no race with the clock
    async with httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader:
        assert (await _report(reader, _ids("a", 1000))).status_code == 200
        assert (await _report(reader, _ids("b", 10))).status_code == 429  # told to wait
    host, port = live.url.removeprefix("http://").split(":")
    reader_stream, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            (
                "POST /api/v1/tasks/insights HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {READ_TOKEN}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
                '{"schema":'
            ).encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader_stream.readline(), timeout=20)
    finally:
        writer.close()
    assert status_line.split()[1] == b"429", status_line


async def test_tasks_not_seen_for_the_retention_period_are_forgotten(start: Start) -> None:
    live = start(discovered_retention_seconds=0.5, retention_sweep_seconds=0.05)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        await admin.put("/api/v1/tasks/a:configured", json={"mode": "link"})
        assert (await _report(reader, ["a:configured", "a:discovered"])).status_code == 200
        assert (await admin.get("/api/v1/tasks/a:discovered")).status_code == 200

        async def gone() -> bool:
            return (await admin.get("/api/v1/tasks/a:discovered")).status_code == 404

        await until(gone, what="the retention sweep forgot a:discovered")
        kept = (await admin.get("/api/v1/tasks/a:configured")).json()
        assert (kept["mode"], kept["last_seen"]) == ("link", None)  # the rule stays, the sighting goes
        assert "hatchet_trace_flags_seen_expired_total 2.0" in (await admin.get("/metrics")).text


async def _rename_seen_table(live: LiveServer, database_url: str | None, old: str, new: str) -> None:
    statement = f"ALTER TABLE {old} RENAME TO {new}"
    if database_url is None:
        path = state_of(live.app).services.settings.sqlite_path
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute(statement)
        return
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def test_a_failing_sweep_recovers_by_itself(start: Start, database_url: str | None) -> None:
    live = start(discovered_retention_seconds=0.3, retention_sweep_seconds=0.05)
    sweep: RetentionSweep = state_of(live.app).retention_sweep
    async with httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        assert (await _report(admin, ["a:old"])).status_code == 200
        await _rename_seen_table(live, database_url, "seen_tasks", "seen_tasks_away")
        failures = sweep.failures

        async def failed() -> bool:
            return sweep.failures > failures

        await until(failed, what="a sweep failed while the table was away")
        await _rename_seen_table(live, database_url, "seen_tasks_away", "seen_tasks")

        async def gone() -> bool:
            return (await admin.get("/api/v1/tasks/a:old")).status_code == 404

        await until(gone, what="the sweep recovered and forgot a:old")


async def test_forget_needs_admin_and_valid_action_ids(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await _report(reader, ["a:b", "a:c"])
    assert (await reader.post("/api/v1/tasks/forget", json={"action_ids": ["a:b"]})).status_code == 403
    for body in ({"action_ids": []}, {"action_ids": ["has space"]}, {"action_ids": ["a:b"], "x": 1}):
        response = await client.post("/api/v1/tasks/forget", json=body)
        assert response.status_code == 422, (body, response.text)
    response = await client.post("/api/v1/tasks/forget", json={"action_ids": ["a:b", "a:b", "never:seen"]})
    assert response.json() == {"forgotten": 1}
    assert await _discovered(client) == ["a:c"]
    assert (await client.get("/api/v1/snapshot")).headers["x-rules-revision"] == "0"  # not a rule change


_readers: list[SSEReader] = []


async def _open_stream(stack: AsyncExitStack, http: httpx.AsyncClient) -> httpx.Response:
    response = await stack.enter_async_context(http.stream("GET", "/api/v1/events"))
    if response.status_code == 200:
        reader = SSEReader(response.aiter_lines())
        await reader.next()  # subscribed: the greeting arrived
        # Kept: a collected line iterator would close its response, and so the stream.
        stack.callback(_readers.remove, reader)
        _readers.append(reader)
    return response


async def test_open_streams_are_capped_per_token_and_in_total(start: Start) -> None:
    live = start(max_streams=3, max_streams_per_token=2)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
        AsyncExitStack() as first,
    ):
        assert (await _open_stream(first, reader)).status_code == 200
        async with AsyncExitStack() as rest:
            assert (await _open_stream(rest, reader)).status_code == 200
            refused = await _open_stream(rest, reader)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            assert "for 'worker'" in (await refused.aread()).decode()
            assert (await _open_stream(rest, admin)).status_code == 200
            over_total = await _open_stream(rest, admin)
            assert over_total.status_code == 429
            assert "on this server" in (await over_total.aread()).decode()
        # Closing streams gives their places back.
        feed = state_of(live.app).services.feed

        async def released() -> bool:
            return feed.subscriber_count == 1

        await until(released, what="closed streams were released")
        assert (await _open_stream(first, reader)).status_code == 200


async def test_a_client_gone_before_its_first_event_frees_its_place(start: Start) -> None:
    live = start(max_streams=1)
    feed = state_of(live.app).services.feed
    async with httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader:
        for _ in range(5):
            async with reader.stream("GET", "/api/v1/events") as response:
                assert response.status_code == 200

            async def released() -> bool:
                return feed.subscriber_count == 0

            await until(released, what="the stream's place was given back")

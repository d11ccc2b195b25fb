"""End to end with real server processes: replicas on one PostgreSQL, restarts, the console entry."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server.live import ADMIN_TOKEN, ADMIN_TOKENS, READ_TOKEN, READ_TOKENS, auth, reset_postgres
from tests.support.server.processes import ServerProcess, start_server_process
from tests.support.server.sse import SSEReader
from tests.support.waiting import DEFAULT_WITHIN, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def env(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    values = {
        "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": ADMIN_TOKENS,
        "HATCHET_TRACE_FLAGS_READ_TOKENS": READ_TOKENS,
        "HATCHET_TRACE_FLAGS_DATA_DIR": str(tmp_path / "data"),
    }
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        asyncio.run(reset_postgres(url))
        values["HATCHET_TRACE_FLAGS_DATABASE_URL"] = url
    return values


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_two_replicas_see_each_others_changes_through_notifications(
    env: dict[str, str], processes: list[ServerProcess], tmp_path: Path
) -> None:
    replica_a = start_server_process(env, tmp_path / "a.log")
    processes.append(replica_a)
    # B's periodic re-read (the safety net) is an hour away: only A's notification can tell B in time,
    # so the waits below need no bound of their own to show that it did.
    replica_b = start_server_process(
        {**env, "HATCHET_TRACE_FLAGS_RESYNC_SECONDS": "3600"}, tmp_path / "b.log"
    )
    processes.append(replica_b)
    async with (
        httpx.AsyncClient(base_url=replica_a.url, headers=auth(ADMIN_TOKEN)) as a,
        httpx.AsyncClient(base_url=replica_b.url, headers=auth(READ_TOKEN)) as b,
        b.stream("GET", "/api/v1/events") as events,
    ):
        stream = SSEReader(events.aiter_lines())
        await stream.next()
        for index, (path, body) in enumerate(
            [
                ("/api/v1/tasks/fanout:a", {"mode": "link"}),
                ("/api/v1/patterns/fanout:*", {"mode": "link"}),
                ("/api/v1/tasks/fanout:a", {"mode": "parent"}),
            ],
            start=1,
        ):
            response = await a.put(path, json=body)
            assert response.status_code == 200
            event = await stream.next_event(within=DEFAULT_WITHIN)
            assert event.id == str(index)

            async def b_serves(revision: int = index) -> bool:
                return (await b.get("/api/v1/snapshot")).headers["x-rules-revision"] == str(revision)

            await until(b_serves, what=f"replica B serves revision {index}")
            assert (await b.get("/api/v1/snapshot")).headers["etag"] == event.json()["etag"]

        # Concurrent writers on different replicas: one wins, the other gets 412.
        etag = (await a.get("/api/v1/tasks/fanout:a")).headers["etag"]
        async with httpx.AsyncClient(base_url=replica_b.url, headers=auth(ADMIN_TOKEN)) as b_admin:
            results = await asyncio.gather(
                a.put(
                    "/api/v1/tasks/fanout:a", json={"mode": "link", "note": "a"}, headers={"If-Match": etag}
                ),
                b_admin.put(
                    "/api/v1/tasks/fanout:a", json={"mode": "link", "note": "b"}, headers={"If-Match": etag}
                ),
            )
        assert sorted(result.status_code for result in results) == [200, 412]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_killed_server_loses_nothing_it_acknowledged(
    env: dict[str, str], processes: list[ServerProcess], tmp_path: Path
) -> None:
    server = start_server_process(env, tmp_path / "first.log")
    processes.append(server)
    async with httpx.AsyncClient(base_url=server.url, headers=auth(ADMIN_TOKEN)) as http:
        for index in range(20):
            response = await http.put(f"/api/v1/tasks/t:{index}", json={"mode": "link"})
            assert response.status_code == 200
        await http.patch("/api/v1/settings", json={"default": "link"})
        before = await http.get("/api/v1/snapshot")
    server.kill()

    restarted = start_server_process(env, tmp_path / "second.log")
    processes.append(restarted)
    async with httpx.AsyncClient(base_url=restarted.url, headers=auth(ADMIN_TOKEN)) as http:
        after = await http.get("/api/v1/snapshot")
        assert after.content == before.content
        assert after.headers["etag"] == before.headers["etag"]
        assert len((await http.get("/api/v1/audit")).json()["items"]) == 21


@pytest.mark.parametrize("backend", ["sqlite"])
def test_serve_without_tokens_prints_a_working_admin_token_and_stops_on_sigterm(
    env: dict[str, str], processes: list[ServerProcess], tmp_path: Path
) -> None:
    env = {key: value for key, value in env.items() if "TOKENS" not in key}
    server = start_server_process(env, tmp_path / "server.log")
    processes.append(server)
    found = re.findall(r"Authorization: Bearer (\S+)", server.output())
    assert len(found) == 1
    response = httpx.put(f"{server.url}/api/v1/tasks/a:b", json={"mode": "link"}, headers=auth(found[0]))
    assert response.status_code == 200
    assert httpx.get(f"{server.url}/api/v1/tasks", headers=auth("guess")).status_code == 401
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
    assert server.terminate() in (0, -signal.SIGTERM)
    assert (tmp_path / "data" / "flags.db").exists()


def test_sigterm_during_long_requests_ends_the_process_within_the_grace_period(
    env: dict[str, str], processes: list[ServerProcess], tmp_path: Path
) -> None:
    env = {**env, "HATCHET_TRACE_FLAGS_SHUTDOWN_GRACE_SECONDS": "1"}
    server = start_server_process(env, tmp_path / "server.log")
    processes.append(server)
    host, port = server.url.removeprefix("http://").split(":")
    # A request whose body never finishes, and an open change stream: both would hold shutdown.
    stalled = socket.create_connection((host, int(port)), timeout=10)
    stalled.sendall(
        f"PUT /api/v1/tasks/a:b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
    )
    with httpx.stream("GET", f"{server.url}/api/v1/events", headers=auth(READ_TOKEN), timeout=10) as stream:
        assert stream.status_code == 200
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
        took = time.monotonic() - started
    stalled.close()
    assert took < 1 + 3, f"the process took {took:.1f} s to end"

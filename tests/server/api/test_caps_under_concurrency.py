"""Caps that hold under concurrency (issue 23): many reports of new tasks, workers or insight tasks at
once must not take a table past its cap, on SQLite and on PostgreSQL. Each report is a real HTTP
request to one of two real replicas of the same database, which take half of them each."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg
import httpx
import pytest
from hatchet_trace_flags_server.http.app_state import state_of

from hatchet_trace_flags.contract import WORKER_REPORT_PATH
from tests.support.server.insight_reports import many_tasks_report
from tests.support.server.live import READ_TOKEN, LiveFactory, LiveServer, SettingsFactory, auth
from tests.support.server.worker_reports import worker_report

pytestmark = pytest.mark.timeout(120)

REPORTS = 10


def _replicas(live_factory: LiveFactory, make_settings: SettingsFactory, **caps: Any) -> list[LiveServer]:
    """Two replicas of one database (on SQLite, of one file). Ten reports queue for one writer there:
    a longer bound than the default 2 s, so that a busy machine tests the caps, not the timeouts."""
    settings = make_settings(seen_burst=100_000, seen_rate=100_000.0, database_timeout_seconds=15.0, **caps)
    return [live_factory(settings), live_factory(settings)]


async def _count(live: LiveServer, database_url: str | None, query: str) -> int:
    """Counted in the database itself, not through a page of the API."""
    if database_url is None:
        with sqlite3.connect(state_of(live.app).services.settings.sqlite_path, timeout=10) as connection:
            return int(connection.execute(query).fetchone()[0])
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


async def _post_all(
    servers: list[LiveServer], path: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    """All ``bodies`` at once, each on its own connection, spread over the replicas."""
    clients = [
        httpx.AsyncClient(base_url=servers[index % len(servers)].url, headers=auth(READ_TOKEN), timeout=60)
        for index in range(len(bodies))
    ]
    try:
        return await asyncio.gather(
            *(client.post(path, json=body) for client, body in zip(clients, bodies, strict=True))
        )
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


async def test_concurrent_reports_of_new_tasks_stop_at_the_discovered_task_cap(
    live_factory: LiveFactory, make_settings: SettingsFactory, database_url: str | None
) -> None:
    servers = _replicas(live_factory, make_settings, max_discovered_tasks=2000)
    bodies = [
        {"worker": f"w{report}", "action_ids": [f"r{report}:task-{index:04d}" for index in range(1000)]}
        for report in range(REPORTS)
    ]
    answers = await _post_all(servers, "/api/v1/tasks/seen", bodies)
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    assert sum(answer.json()["recorded"] for answer in answers) == 2000
    assert sum(answer.json().get("ignored", 0) for answer in answers) == REPORTS * 1000 - 2000
    assert await _count(servers[0], database_url, "SELECT count(*) FROM seen_tasks") == 2000


async def test_concurrent_insight_reports_stop_at_the_insight_task_cap(
    live_factory: LiveFactory, make_settings: SettingsFactory, database_url: str | None
) -> None:
    servers = _replicas(live_factory, make_settings, max_insight_tasks=50)
    bodies = [many_tasks_report(f"w{report}", f"r{report}", 100) for report in range(REPORTS)]
    answers = await _post_all(servers, "/api/v1/tasks/insights", bodies)
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    assert sum(answer.json()["recorded"] for answer in answers) == 50
    query = "SELECT count(DISTINCT action_id) FROM task_insights"
    assert await _count(servers[0], database_url, query) == 50


async def test_concurrent_reports_of_new_workers_stop_at_the_worker_cap(
    live_factory: LiveFactory, make_settings: SettingsFactory, database_url: str | None
) -> None:
    servers = _replicas(live_factory, make_settings, max_workers=3)
    bodies = [worker_report(f"host/{report}", 1) for report in range(REPORTS * 2)]
    answers = await _post_all(servers, WORKER_REPORT_PATH, bodies)
    assert all(answer.status_code < 500 for answer in answers), [answer.text for answer in answers]
    assert sum(answer.json()["recorded"] for answer in answers) == 3
    assert await _count(servers[0], database_url, "SELECT count(*) FROM workers") == 3

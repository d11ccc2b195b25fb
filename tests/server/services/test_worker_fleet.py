"""Real workers (``AdminServiceProvider``) report themselves to the real service, on SQLite and PostgreSQL:
two replicas on one database, the worker following replica B, its revision read on replica A."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hatchet_trace_flags_server import Settings
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider
from hatchet_trace_flags.contract import REVISION_HEADER, SNAPSHOT_PATH, WORKERS_PATH
from tests.support.flags.admin_service import ProviderFactory
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)

FLAG = "hatchet.use-links-instead-of-parent"
Replicas = tuple[LiveServer, LiveServer]


@pytest.fixture
def replicas(live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory) -> Replicas:
    """Two service processes' worth of app on one database (the SQLite one learns of the other's writes
    by its resync, PostgreSQL by LISTEN/NOTIFY)."""
    settings = make_settings(resync_seconds=0.2)
    return live_factory(settings), live_factory(settings)


def admin(replica: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=replica.url, headers=auth(ADMIN_TOKEN), timeout=10)


def set_task(replica: LiveServer, action_id: str, mode: str) -> int:
    with admin(replica) as http:
        assert http.put(f"/api/v1/tasks/{action_id}", json={"mode": mode}).status_code == 200
        return int(http.get(SNAPSHOT_PATH).headers[REVISION_HEADER])


def worker_on(replica: LiveServer, name: str) -> dict[str, Any] | None:
    with admin(replica) as http:
        page = http.get(WORKERS_PATH).json()
    return next((item for item in page["items"] if item["worker"] == name), None)


def evaluate(action_id: str) -> None:
    """A task start asking for its mode (a decision-cache miss)."""
    api.get_client(OPENFEATURE_DOMAIN).get_boolean_value(FLAG, False, EvaluationContext(action_id))


def test_a_worker_following_replica_b_shows_on_replica_a_with_each_revision_it_applies(
    replicas: Replicas, make_provider: ProviderFactory
) -> None:
    replica_a, replica_b = replicas
    first = set_task(replica_a, "fleet:warm-up", "parent")
    provider = make_provider(replica_b.url, token=READ_TOKEN, worker_name="worker-b-1")
    install_provider(provider, timeout=5)

    def applies(revision: int) -> bool:
        item = worker_on(replica_a, "worker-b-1")
        return item is not None and item["revision"] == revision and item["state"] == "current"

    wait_until(lambda: applies(first), what=f"replica A lists worker-b-1 on revision {first}")
    item = worker_on(replica_a, "worker-b-1")
    assert item is not None
    assert item["reported"] is True
    assert item["provider"] == "admin-service"
    assert item["source"] == "service"
    assert item["library_version"]
    assert item["sdk_version"]  # hatchet-sdk is installed with the library
    wait_until(lambda: provider.streaming, what="the worker follows replica B's stream")
    reports = provider.requests["worker"]

    # A change on replica A reaches the worker through replica B; it says so at once, not at its next
    # heartbeat (30 s away): the whole round trip fits well inside one.
    written_at = datetime.now(UTC)
    second = set_task(replica_a, "fleet:resize", "link")
    wait_until(lambda: applies(second), what=f"replica A lists worker-b-1 on revision {second}")
    assert datetime.now(UTC) - written_at < timedelta(seconds=20)
    with admin(replica_a) as http:
        reach = http.get(f"{WORKERS_PATH}/reach", params={"revision": second}).json()
        summary = http.get(WORKERS_PATH).json()["summary"]
    assert (reach["workers"], reach["reached"], reach["complete"]) == (1, 1, True)
    assert 0 <= reach["seconds"] < 20
    assert summary["text"] == f"1 of 1 workers on rev {second}"
    # One report for the new revision, no heartbeat in between.
    assert provider.requests["worker"] == reports + 1


async def _age_sightings(database_url: str | None, sqlite_path: str) -> None:
    old = datetime.now(UTC) - timedelta(minutes=10)
    if database_url is None:
        with sqlite3.connect(sqlite_path, timeout=10) as connection:
            connection.execute("UPDATE seen_tasks SET last_seen = ?", (old.strftime("%Y-%m-%d %H:%M:%S.%f"),))
        return
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("UPDATE seen_tasks SET last_seen = $1", old)
    finally:
        await connection.close()


def test_a_task_that_keeps_running_is_last_seen_within_a_report_not_ten_minutes(
    replicas: Replicas,
    make_provider: ProviderFactory,
    database_url: str | None,
    make_settings: SettingsFactory,
) -> None:
    replica_a, replica_b = replicas
    provider = make_provider(replica_b.url, token=READ_TOKEN, worker_name="worker-b-2")
    install_provider(provider, timeout=5)
    evaluate("fleet:busy")
    evaluate("fleet:idle")

    def task(action_id: str) -> dict[str, Any]:
        with admin(replica_a) as http:
            response = http.get(f"/api/v1/tasks/{action_id}")
        return response.json() if response.status_code == 200 else {}

    wait_until(lambda: bool(task("fleet:busy") and task("fleet:idle")), what="both tasks reported")
    # The follower sends one report after the other: once a later one arrived, the worker has taken note
    # that the first went through.
    evaluate("fleet:sentinel")
    wait_until(lambda: bool(task("fleet:sentinel")), what="the sentinel task reported")
    asyncio.run(_age_sightings(database_url, str(make_settings().sqlite_path)))
    # The busy task runs again: its task report is fresh (ten minutes), so no task report is sent for
    # it; it rides with the worker's next report of itself, here the one a new revision brings at once.
    evaluate("fleet:busy")
    reports_before = provider.requests["seen"]
    revision = set_task(replica_a, "fleet:other", "link")
    wait_until(
        lambda: (worker_on(replica_a, "worker-b-2") or {}).get("revision") == revision,
        what=f"worker-b-2 reports revision {revision}",
    )
    now = datetime.now(UTC)
    assert now - datetime.fromisoformat(task("fleet:busy")["last_seen"]) < timedelta(seconds=30)
    assert now - datetime.fromisoformat(task("fleet:idle")["last_seen"]) > timedelta(minutes=9)
    assert provider.requests["seen"] == reports_before  # no extra task report for it

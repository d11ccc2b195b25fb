"""Time-boxed settings revert in the store at ``until``: once, however many replicas race for it, and also
when the service was down at that moment (the audit and the stored state agree after the restart)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hatchet_trace_flags_server import Settings

from tests.support.server.live import ADMIN_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

# Seconds ahead: long enough that the write reaches the service before it on a loaded machine.
LEAD = 3.0


def admin(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=auth(ADMIN_TOKEN), timeout=30)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=LEAD)


def expiry_events(server: LiveServer) -> list[dict[str, Any]]:
    with admin(server) as http:
        items: list[dict[str, Any]] = http.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    return [item for item in items if item["source"] == "expiry"]


def test_a_timed_task_reverts_in_the_store_and_the_audit_names_who_set_it(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    server = live_factory(make_settings())
    with admin(server) as http:
        assert http.put("/api/v1/tasks/a:b", json={"mode": "parent", "note": "steady"}).status_code == 200
        until = soon()
        timed = http.put("/api/v1/tasks/a:b", json={"mode": "link", "until": until.isoformat()})
        assert timed.status_code == 200, timed.text
        wait_until(lambda: http.get("/api/v1/tasks/a:b").json()["mode"] == "parent", what="the task reverts")
        task = http.get("/api/v1/tasks/a:b").json()
    assert datetime.now(UTC) >= until
    assert (task["until"], task["reverts_to"], task["updated_by"]) == (None, None, "expiry:alice")
    [event] = expiry_events(server)
    assert (event["kind"], event["key"], event["actor"]) == ("task", "a:b", "expiry:alice")
    assert event["before"]["mode"] == "link"
    assert event["before"]["reverts_to"] == "parent"
    assert event["after"]["mode"] == "parent"


def test_two_replicas_on_one_postgresql_database_revert_each_expiry_exactly_once(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("replicas share a PostgreSQL database")
    settings = make_settings(resync_seconds=0.2)
    replica_a, replica_b = live_factory(settings), live_factory(settings)
    until = (soon() + timedelta(seconds=1)).isoformat()
    keys = [f"race:task-{index}" for index in range(6)]
    with admin(replica_a) as http:
        for key in keys:
            assert http.put(f"/api/v1/tasks/{key}", json={"mode": "link", "until": until}).status_code == 200
        assert http.put("/api/v1/patterns/race:*", json={"mode": "link", "until": until}).status_code == 200
        switch = http.patch("/api/v1/settings", json={"links_enabled": False, "until": until})
        assert switch.status_code == 200
        written = int(http.get("/api/v1/snapshot").headers["x-rules-revision"])
    # Both replicas hold the timed rules before the moment comes, so both race for it.
    with admin(replica_b) as http:
        wait_until(lambda: int(http.get("/api/v1/snapshot").headers["x-rules-revision"]) == written)

    def reverted(server: LiveServer) -> bool:
        with admin(server) as http:
            snapshot = http.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"})
        return int(snapshot.headers["x-rules-revision"]) == written + len(keys) + 2

    wait_until(lambda: reverted(replica_a) and reverted(replica_b), what="both replicas serve the reverts")
    events = expiry_events(replica_b)
    assert sorted((event["kind"], event["key"]) for event in events) == sorted(
        [("task", key) for key in keys] + [("pattern", "race:*"), ("settings", None)]
    )
    assert sorted(event["revision"] for event in events) == list(range(written + 1, written + len(keys) + 3))
    with admin(replica_a) as http:
        document = http.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"}).json()
    assert document == {"version": 1, "default": "parent", "links_enabled": True, "tasks": {}, "patterns": {}}


def test_an_expiry_that_ends_while_the_service_is_down_is_reverted_once_at_start(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    first = live_factory(settings)
    until = soon()
    with admin(first) as http:
        assert http.put("/api/v1/patterns/x:*", json={"mode": "parent"}).status_code == 200
        timed = http.put("/api/v1/patterns/x:*", json={"mode": "link", "until": until.isoformat()})
        assert timed.status_code == 200
    first.stop()
    wait_until(lambda: datetime.now(UTC) > until, what="until passes while the service is down")
    second = live_factory(settings)
    with admin(second) as http:
        wait_until(lambda: http.get("/api/v1/patterns/x:*").json()["mode"] == "parent", what="the revert")
        pattern = http.get("/api/v1/patterns/x:*").json()
    [event] = expiry_events(second)
    assert event["after"] == {"mode": pattern["mode"], "note": None, "version": pattern["version"]}
    assert pattern["until"] is None
    # A third start finds nothing left to revert: still exactly one event.
    second.stop()
    third = live_factory(settings)
    with admin(third) as http:
        # The stored pattern holds no expiry any more: a write after this start finds no second revert.
        assert http.put("/api/v1/tasks/sentinel:x", json={"mode": "link"}).status_code == 200
    assert len(expiry_events(third)) == 1

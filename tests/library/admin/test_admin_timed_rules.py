"""Time-boxed settings on the worker side: a real provider following the real service reverts at
``until`` by itself, with the service stopped; a worker that does not announce expiries (today's library)
is served version-1 documents it can read, and follows the revert the service writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openfeature import api
from openfeature.event import ProviderEvent

from hatchet_trace_flags import FlagPredicate
from hatchet_trace_flags._wiring import install_provider
from hatchet_trace_flags.contract import DOCUMENT_VERSION_HEADER
from tests.support.flags.admin_service import EventLog, ProviderFactory, Service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)

TASK = "prod_fanout-worker:process-item"
# Seconds ahead: long enough for the write to reach the worker first on a loaded machine.
LEAD = 4.0
# The keys today's (version-1 only) parser accepts; anything else it refuses.
VERSION_1_KEYS = {"$schema", "version", "default", "links_enabled", "tasks", "patterns"}


def timed_write(service: Service, mode: str, until: datetime) -> None:
    with service.admin() as admin:
        response = admin.put(f"/api/v1/tasks/{TASK}", json={"mode": mode, "until": until.isoformat()})
        assert response.status_code == 200, response.text


class OldWorkerTransport(httpx.AsyncHTTPTransport):
    """A worker of a library before expiries: it sends no announcement. Keeps every snapshot body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, object]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        del request.headers[DOCUMENT_VERSION_HEADER]
        response = await super().handle_async_request(request)
        if request.url.path == "/api/v1/snapshot" and response.status_code == 200:
            await response.aread()
            self.bodies.append(json.loads(response.content))
        return response


def test_a_worker_reverts_at_until_with_the_service_stopped(
    service: Service, make_provider: ProviderFactory, provider_events: EventLog
) -> None:
    service.set_task(TASK, "parent")
    provider = make_provider(service.url)
    install_provider(provider, timeout=5)
    predicate = FlagPredicate(ttl=3600)  # cached "forever": only a configuration change refreshes it
    try:
        assert predicate(TASK) is False
        until = datetime.now(UTC) + timedelta(seconds=LEAD)
        timed_write(service, "link", until)
        wait_until(lambda: predicate(TASK) is True, what="the timed link reaches the worker")
        assert provider.rules.next_expiry == until
        service.stop()
        wait_until(
            lambda: provider.state != "live" or not provider.streaming, what="the worker loses the service"
        )

        wait_until(lambda: predicate(TASK) is False, what="the worker reverts by itself at until")
        assert datetime.now(UTC) >= until
        assert provider.rules.tasks[TASK] == "parent"
        assert provider.rules.next_expiry is None
        messages = [
            details.message or ""
            for details in provider_events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
        ]
        assert any("time-boxed setting ended" in message for message in messages)
    finally:
        predicate.close()


def test_a_worker_that_does_not_announce_expiries_gets_version_1_and_follows_the_revert(
    service: Service, make_provider: ProviderFactory
) -> None:
    service.set_task(TASK, "parent")
    transport = OldWorkerTransport()
    provider = make_provider(service.url, transport=transport)
    install_provider(provider, timeout=5)
    until = datetime.now(UTC) + timedelta(seconds=LEAD)
    timed_write(service, "link", until)
    wait_until(lambda: provider.rules.tasks.get(TASK) == "link", what="the old worker gets the timed value")
    timed = transport.bodies[-1]
    assert timed["version"] == 1
    assert set(timed) <= VERSION_1_KEYS
    assert provider.rules.next_expiry is None  # it knows nothing of the expiry...

    # ...and still returns to parent: the service writes the revert and the worker follows it.
    wait_until(lambda: provider.rules.tasks.get(TASK) == "parent", what="the old worker follows the revert")
    assert all(body["version"] == 1 and set(body) <= VERSION_1_KEYS for body in transport.bodies)
    assert provider.last_error is None


def test_a_worker_started_from_its_snapshot_file_after_until_serves_the_reverted_value(
    service: Service, make_provider: ProviderFactory, tmp_path: Path
) -> None:
    snapshot_file = tmp_path / "snapshot.json"
    service.set_task(TASK, "parent")
    first = make_provider(service.url, snapshot_file=snapshot_file)
    install_provider(first, timeout=5)
    until = datetime.now(UTC) + timedelta(seconds=LEAD)
    timed_write(service, "link", until)
    wait_until(lambda: first.rules.tasks.get(TASK) == "link", what="the timed link reaches the worker")
    wait_until(lambda: "expiries" in snapshot_file.read_text(), what="the worker persists the timed rules")
    first.shutdown()
    api.clear_providers()
    service.stop()
    wait_until(lambda: datetime.now(UTC) >= until, what="until passes with the worker and the service down")

    second = make_provider(service.url, snapshot_file=snapshot_file, startup_timeout=0.5)
    assert second.source == "snapshot file"
    assert second.rules.tasks[TASK] == "parent"
    assert second.rules.next_expiry is None

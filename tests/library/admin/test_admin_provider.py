"""AdminServiceProvider against the real admin service (uvicorn on 127.0.0.1, SQLite), in process."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import httpx
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.provider import ProviderStatus

from hatchet_trace_flags import FlagPredicate, RuleSet
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider
from tests.support.flags.admin_service import (
    OTHER_READ_TOKEN,
    READ_TOKEN,
    EventLog,
    ProviderFactory,
    Service,
    admin_threads,
)
from tests.support.waiting import wait_until

TASK = "prod_fanout-worker:process-item"
FLAG = "hatchet.use-links-instead-of-parent"


def status() -> ProviderStatus:
    return api.get_client(OPENFEATURE_DOMAIN).get_provider_status()


def flag_for(action_id: str) -> bool:
    return api.get_client(OPENFEATURE_DOMAIN).get_boolean_value(FLAG, False, EvaluationContext(action_id))


class RecordingTransport(httpx.AsyncHTTPTransport):
    """Records (method, path, status, If-None-Match, thread name) of every request the provider sends."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int, str | None, str]] = []
        self.lock = threading.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        with self.lock:
            self.seen.append(
                (
                    request.method,
                    request.url.path,
                    response.status_code,
                    request.headers.get("if-none-match"),
                    threading.current_thread().name,
                )
            )
        return response

    def snapshot_polls(self) -> list[tuple[int, str | None]]:
        with self.lock:
            return [(code, etag) for _, path, code, etag, _ in self.seen if path == "/api/v1/snapshot"]


# -- start-up and following changes -----------------------------------------------------------------------


def test_serves_the_rules_of_the_first_snapshot(service: Service, make_provider: ProviderFactory) -> None:
    revision = service.set_task(TASK, "link")
    provider = make_provider(service.url)

    assert install_provider(provider, timeout=5) is True

    assert flag_for(TASK) is True
    assert flag_for("prod_fanout-worker:other") is False
    assert (provider.state, provider.source, provider.revision) == ("live", "service", revision)
    assert provider.last_error is None


def test_a_flip_reaches_the_predicate_through_the_stream(
    service: Service, make_provider: ProviderFactory, provider_events: EventLog
) -> None:
    # Polling far too slow to matter: only the change stream can deliver the flips in time.
    provider = make_provider(service.url, poll_interval=3600, resync_interval=3600)
    install_provider(provider, timeout=5)
    predicate = FlagPredicate(ttl=3600)  # cached "forever": only a change event can refresh it
    try:
        assert predicate(TASK) is False
        wait_until(lambda: provider.streaming)

        for mode in ("link", "parent", "link"):
            revision = service.set_task(TASK, mode)
            wait_until(lambda mode=mode: predicate(TASK) is (mode == "link"), what=mode)
            assert provider.revision == revision
    finally:
        predicate.close()

    assert provider.requests["events"] == 1  # one stream connection carried all three
    changed = provider_events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert len(changed) >= 3
    assert all(details.flags_changed == [FLAG] for details in changed)


def test_without_the_stream_conditional_polls_follow_the_flips(
    service: Service, make_provider: ProviderFactory
) -> None:
    transport = RecordingTransport()
    provider = make_provider(service.url, stream=False, poll_interval=0.1, transport=transport)
    install_provider(provider, timeout=5)
    predicate = FlagPredicate(ttl=3600)
    try:
        assert predicate(TASK) is False
        service.set_task(TASK, "link")
        wait_until(lambda: predicate(TASK) is True)
        wait_until(lambda: len(transport.snapshot_polls()) >= 4)
    finally:
        predicate.close()

    assert provider.requests["events"] == 0
    polls = transport.snapshot_polls()
    assert polls[0] == (200, None)  # nothing to compare with yet
    assert all(etag is not None for _, etag in polls[1:])  # every later poll is conditional
    assert 304 in [code for code, _ in polls]  # and costs the service no body when nothing changed


def test_evaluations_never_send_a_request(service: Service, make_provider: ProviderFactory) -> None:
    transport = RecordingTransport()
    provider = make_provider(
        service.url, poll_interval=3600, resync_interval=3600, report_tasks=False, transport=transport
    )
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)
    predicate = FlagPredicate(ttl=3600)
    before = provider.requests
    try:
        for number in range(2000):
            predicate.invalidate()  # every call below is a cache miss, i.e. a provider evaluation
            predicate(f"fanout-worker:task-{number % 50}")
            flag_for(f"fanout-worker:direct-{number % 50}")
    finally:
        predicate.close()

    assert provider.requests == before
    with transport.lock:
        assert {thread for *_, thread in transport.seen} == {f"hatchet-trace-flags-admin[{service.url}]"}


def test_persists_each_new_snapshot_atomically(
    service: Service, make_provider: ProviderFactory, tmp_path: Path
) -> None:
    snapshot_file = tmp_path / "cache" / "snapshot.json"
    provider = make_provider(service.url, snapshot_file=snapshot_file)
    install_provider(provider, timeout=5)
    revision = service.set_task(TASK, "link")
    wait_until(lambda: provider.revision == revision)

    wait_until(lambda: json.loads(snapshot_file.read_text())["revision"] == revision)
    saved = json.loads(snapshot_file.read_text())
    assert saved["url"] == service.url
    assert saved["etag"] == provider.etag
    assert RuleSet.from_document(saved["rules"]) == RuleSet(tasks={TASK: "link"})
    assert sorted(path.name for path in snapshot_file.parent.iterdir()) == ["snapshot.json"]  # no temp files


def test_reports_the_tasks_it_evaluates_in_batches(service: Service, make_provider: ProviderFactory) -> None:
    provider = make_provider(service.url, report_batch_size=2, worker_name="worker-7")
    install_provider(provider, timeout=5)
    names = [f"prod_fanout-worker:task-{number}" for number in range(5)]
    for name in names:
        flag_for(name)
        flag_for(name)  # evaluated twice, reported once

    def reported() -> dict[str, str | None]:
        with service.admin() as admin:
            items = admin.get("/api/v1/tasks", params={"limit": 100}).json()["items"]
        return {item["action_id"]: item["last_worker"] for item in items}

    wait_until(lambda: reported() == dict.fromkeys(names, "worker-7"))
    assert provider.requests["seen"] == 3  # 5 action_ids in batches of 2
    flag_for(names[0])  # reported recently: not again
    wait_until(lambda: provider.requests["seen"] == 3)


# -- losing the service and getting it back --------------------------------------------------------------


def test_service_lost_keeps_the_last_rules_and_recovers(
    service: Service, make_provider: ProviderFactory, provider_events: EventLog
) -> None:
    service.set_task(TASK, "link")
    provider = make_provider(service.url)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)

    service.stop()
    wait_until(lambda: provider.state == "stale")
    assert status() is ProviderStatus.STALE
    assert flag_for(TASK) is True  # still the last rules
    assert "could not be reached" in (provider.last_error or "")

    service.start()
    wait_until(lambda: provider.state == "live" and provider.streaming)
    wait_until(lambda: status() is ProviderStatus.READY)
    service.set_task(TASK, "parent")
    wait_until(lambda: flag_for(TASK) is False)
    assert ProviderEvent.PROVIDER_STALE in provider_events.kinds()


def test_a_service_restarted_on_an_empty_database_is_noticed_loudly(
    service: Service, make_provider: ProviderFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real service's X-Rules-Store (issue 12) reaches the worker: a new, empty database behind the
    same URL is a WARNING naming both stores, and the old saved snapshot is kept aside."""
    caplog.set_level(logging.WARNING)
    snapshot_file = tmp_path / "snapshot.json"
    revision = service.set_task(TASK, "link")
    provider = make_provider(service.url, snapshot_file=snapshot_file)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.revision == revision and provider.store is not None)
    first_store = provider.store
    assert flag_for(TASK) is True

    service.restart(data_dir=tmp_path / "an-empty-data-dir")  # e.g. a relative ./data from elsewhere

    def warnings() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]

    # The store changes before the warning is written: wait for the warning itself.
    wait_until(lambda: any("now answers from rules store" in message for message in warnings()))
    second_store = provider.store
    assert second_store not in (None, first_store)
    assert any(
        f"now answers from rules store {second_store}" in message and f"store {first_store}" in message
        for message in warnings()
    ), warnings()
    assert any("new, empty rule store" in message and second_store in message for message in warnings())
    wait_until(lambda: flag_for(TASK) is False)  # it follows the service, having said so
    assert any(first_store in path.name for path in tmp_path.iterdir() if path != snapshot_file)


def test_absent_at_start_it_serves_the_persisted_snapshot_then_goes_live(
    service: Service, make_provider: ProviderFactory, tmp_path: Path
) -> None:
    snapshot_file = tmp_path / "snapshot.json"
    revision = service.set_task(TASK, "link")
    first = make_provider(service.url, snapshot_file=snapshot_file)
    install_provider(first, timeout=5)
    wait_until(snapshot_file.exists)
    first.shutdown()
    api.clear_providers()
    service.stop()

    second = make_provider(service.url, snapshot_file=snapshot_file, startup_timeout=0.5)
    assert second.source == "snapshot file"
    assert install_provider(second, timeout=5) is False  # initialize says why, within startup_timeout
    assert status() is ProviderStatus.ERROR
    assert flag_for(TASK) is True
    assert (second.state, second.source, second.revision) == ("stale", "snapshot file", revision)
    assert str(snapshot_file) in (second.last_error or "")

    service.start()
    wait_until(lambda: second.state == "live" and second.source == "service")
    wait_until(lambda: status() is ProviderStatus.READY)
    service.set_task(TASK, "parent")
    wait_until(lambda: flag_for(TASK) is False)


def test_token_refused_at_start_keeps_asking_and_follows_once_accepted(
    service: Service, make_provider: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags")
    service.set_task(TASK, "link")
    service.restart(read_tokens=f"worker:{READ_TOKEN}")  # the other worker's token is not issued yet
    provider = make_provider(service.url, OTHER_READ_TOKEN)

    assert install_provider(provider, timeout=5) is False

    assert status() is ProviderStatus.ERROR
    assert provider.state == "unauthorized"
    assert flag_for(TASK) is False  # nothing known yet: parent mode
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert "refused the token: HTTP 401" in errors[0]
    assert "HATCHET_TRACE_FLAGS_TOKEN" in errors[0]
    assert OTHER_READ_TOKEN not in caplog.text
    wait_until(lambda: provider.requests["snapshot"] >= 2)  # asking again, with its pause
    assert provider.requests["events"] == 0  # the stream waits for an accepted token

    service.restart(read_tokens=f"worker:{READ_TOKEN},other:{OTHER_READ_TOKEN}")  # e.g. a token rotation

    wait_until(lambda: provider.state == "live")
    wait_until(lambda: status() is ProviderStatus.READY)
    assert flag_for(TASK) is True
    wait_until(lambda: provider.streaming)
    assert "accepts the token again" in caplog.text


def test_token_revoked_mid_run_keeps_the_last_rules_and_recovers_without_a_restart(
    service: Service, make_provider: ProviderFactory
) -> None:
    service.set_task(TASK, "link")
    provider = make_provider(service.url)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)

    service.restart(read_tokens="worker:a-new-token-0123456789abcdef")

    wait_until(lambda: provider.state == "unauthorized")
    # The state changes first, then the error is recorded and announced.
    wait_until(lambda: status() is ProviderStatus.ERROR)
    wait_until(lambda: "HTTP 401" in (provider.last_error or ""))
    assert flag_for(TASK) is True  # the last rules stay in force
    assert admin_threads()  # still there, asking again

    service.restart(read_tokens=f"worker:{READ_TOKEN}")
    service.set_task(TASK, "parent")

    wait_until(lambda: flag_for(TASK) is False)
    assert provider.state == "live"
    wait_until(lambda: status() is ProviderStatus.READY)


# -- lifecycle -----------------------------------------------------------------------------------------


def test_shutdown_stops_the_thread_and_closes_the_stream(
    service: Service, make_provider: ProviderFactory
) -> None:
    provider = make_provider(service.url)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)
    assert len(admin_threads()) == 1

    def open_streams() -> float:
        with service.admin() as admin:
            metrics = admin.get("/metrics").text
        [line] = [
            line
            for line in metrics.splitlines()
            if line.startswith("hatchet_trace_flags_event_stream_clients ")
        ]
        return float(line.split()[1])

    assert open_streams() == 1
    api.clear_providers()  # calls shutdown

    assert admin_threads() == []
    assert provider.state == "stopped"
    wait_until(lambda: open_streams() == 0)
    assert flag_for(TASK) is False  # no provider now: OpenFeature's default


def test_a_forked_child_follows_the_service_on_its_own(
    service: Service, make_provider: ProviderFactory
) -> None:
    provider = make_provider(service.url)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)
    to_child_read, to_child_write = os.pipe()
    from_child_read, from_child_write = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report what it sees, then leave without running any test machinery
        code = 1
        try:
            os.read(to_child_read, 1)  # the parent flipped the task
            try:
                wait_until(lambda: provider.rules.evaluate(TASK).use_links, within=20)
                ok = True
            except AssertionError:
                ok = False
            threads = [thread.name for thread in admin_threads()]
            os.write(from_child_write, json.dumps({"ok": ok, "threads": threads}).encode())
            code = 0
        finally:
            os._exit(code)

    service.set_task(TASK, "link")
    os.write(to_child_write, b"x")
    report = json.loads(os.read(from_child_read, 4096))
    _, exit_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(exit_status) == 0
    assert report == {"ok": True, "threads": [f"hatchet-trace-flags-admin[{service.url}]"]}
    wait_until(lambda: flag_for(TASK) is True)  # and the parent still follows too


def test_construction_alone_starts_nothing(make_provider: ProviderFactory) -> None:
    provider = make_provider("http://127.0.0.1:9", fallback=RuleSet(tasks={TASK: "link"}))

    assert provider.state == "idle"
    assert provider.source == "fallback"
    assert provider.rules.evaluate(TASK).use_links is True
    assert admin_threads() == []
    assert provider.requests == {"snapshot": 0, "events": 0, "seen": 0, "worker": 0}

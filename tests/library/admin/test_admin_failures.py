"""AdminServiceProvider against a stub service that misbehaves on purpose: rate limits, garbage,
truncated answers, stalled connections and streams, proxies that do not pass Server-Sent Events."""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.provider import ProviderStatus

from hatchet_trace_flags import RuleSet
from hatchet_trace_flags._admin import follow
from hatchet_trace_flags._admin.protocol import etag_of
from hatchet_trace_flags._admin.snapshot_store import save_snapshot
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider
from tests.support.flags.admin_service import EventLog, ProviderFactory, admin_threads
from tests.support.flags.admin_stub import Reply, Request, StubServer, event_stream, json_reply, rules_reply
from tests.support.waiting import wait_until

TASK = "prod_fanout-worker:process-item"
OTHER_TASK = "prod_fanout-worker:collect"
FLAG = "hatchet.use-links-instead-of-parent"
SNAPSHOT = "/api/v1/snapshot"
EVENTS = "/api/v1/events"
SEEN = "/api/v1/tasks/seen"
CONNECTED = "retry: 2000\n: connected at revision 1\n\n"


def status() -> ProviderStatus:
    return api.get_client(OPENFEATURE_DOMAIN).get_provider_status()


def flag_for(action_id: str) -> bool:
    return api.get_client(OPENFEATURE_DOMAIN).get_boolean_value(FLAG, False, EvaluationContext(action_id))


class Switchable:
    """A route whose reply the test changes as it goes."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def __call__(self, request: Request) -> Reply:
        return self.reply


def test_429_waits_as_long_as_retry_after_asks(stub: StubServer, make_provider: ProviderFactory) -> None:
    def snapshot(request: Request) -> Reply:
        if len(stub.requests_to(SNAPSHOT)) <= 2:
            return Reply(429, {"Retry-After": "1"}, b"slow down")
        return rules_reply({TASK: "link"}, 1)

    stub.route(SNAPSHOT, snapshot)
    # Backoff alone would retry within 20 ms; only Retry-After explains a longer wait.
    provider = make_provider(
        stub.url, stream=False, report_tasks=False, backoff_initial=0.01, backoff_max=0.02
    )

    assert install_provider(provider, timeout=5) is False
    assert "HTTP 429" in (provider.last_error or "")
    wait_until(lambda: provider.state == "live")

    first, second, third = (request.at for request in stub.requests_to(SNAPSHOT)[:3])
    assert second - first >= 0.99
    assert third - second >= 0.99
    assert flag_for(TASK) is True
    assert status() is ProviderStatus.READY


@pytest.mark.parametrize(
    ("bad", "state", "message"),
    [
        pytest.param(
            Reply(200, {"Content-Type": "text/html"}, b"<html>proxy error</html>"),
            "error",
            "sent an invalid snapshot: (document): not valid JSON",
            id="not-json",
        ),
        pytest.param(
            json_reply({"version": 1, "default": "sideways"}),
            "error",
            "sent an invalid snapshot: default:",
            id="not-a-rule-document",
        ),
        pytest.param(
            Reply(200, {"Content-Type": "application/json"}, b'{"version": 1, "tas', content_length=4000),
            "stale",
            "could not be reached: RemoteProtocolError",
            id="truncated",
        ),
        pytest.param(
            Reply(200, {"Content-Type": "application/json"}, b"{}", content_length=64 * 1024 * 1024),
            "error",
            "sent a snapshot larger than",
            id="too-large",
        ),
    ],
)
def test_a_bad_snapshot_keeps_the_last_good_rules(
    stub: StubServer,
    make_provider: ProviderFactory,
    provider_events: EventLog,
    bad: Reply,
    state: str,
    message: str,
) -> None:
    snapshot = Switchable(rules_reply({TASK: "link"}, 1))
    stub.route(SNAPSHOT, snapshot)
    provider = make_provider(stub.url, stream=False, poll_interval=0.05)
    assert install_provider(provider, timeout=5) is True
    changes = len(provider_events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED))

    snapshot.reply = bad
    wait_until(lambda: provider.state == state)
    assert message in (provider.last_error or "")
    assert status() is (ProviderStatus.ERROR if state == "error" else ProviderStatus.STALE)
    assert flag_for(TASK) is True
    assert provider.rules == RuleSet(tasks={TASK: "link"})
    assert len(provider_events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)) == changes

    snapshot.reply = rules_reply({TASK: "parent"}, 2)
    wait_until(lambda: provider.state == "live" and provider.revision == 2)
    wait_until(lambda: status() is ProviderStatus.READY)
    assert flag_for(TASK) is False


def test_a_stalled_service_never_holds_up_start_or_shutdown(
    stub: StubServer, make_provider: ProviderFactory
) -> None:
    stub.route(SNAPSHOT, lambda request: Reply(stall=True))
    provider = make_provider(
        stub.url, startup_timeout=0.3, timeout=0.5, backoff_initial=0.01, backoff_max=0.02
    )

    started = time.monotonic()
    assert install_provider(provider, timeout=10) is False
    assert time.monotonic() - started < 0.3 + 2.0  # startup_timeout, plus slack for a busy machine
    assert "sent no complete snapshot within 0.3 s" in (provider.last_error or "")
    assert flag_for(TASK) is False  # the defaults meanwhile

    # Each stalled request is abandoned after `timeout` and tried again.
    wait_until(lambda: len(stub.requests_to(SNAPSHOT)) >= 3)
    stopping = time.monotonic()
    provider.shutdown()
    assert time.monotonic() - stopping < 2.0
    assert admin_threads() == []


def test_a_silent_stream_is_taken_for_dead_and_reconnected(
    stub: StubServer, make_provider: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hatchet_trace_flags")
    stub.route(SNAPSHOT, lambda request: rules_reply({TASK: "link"}, 1))
    stub.route(EVENTS, lambda request: event_stream(CONNECTED, hold=True))  # then not even a heartbeat
    provider = make_provider(stub.url, stream_idle_timeout=0.2, resync_interval=3600, poll_interval=3600)
    install_provider(provider, timeout=5)

    wait_until(lambda: len(stub.requests_to(EVENTS)) >= 3)
    assert "the event stream from the admin service at" in caplog.text
    assert "was silent for 0.2 s" in caplog.text
    assert provider.state == "live"  # the snapshot is fine: losing a stream is not losing the service
    assert status() is ProviderStatus.READY


def test_change_events_refetch_only_what_is_new(
    stub: StubServer, make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = Switchable(rules_reply({TASK: "parent"}, 1))
    stub.route(SNAPSHOT, snapshot)
    stub.route(EVENTS, lambda request: event_stream(CONNECTED, hold=True))
    provider = make_provider(stub.url, resync_interval=3600, poll_interval=3600)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)
    wait_until(lambda: len(stub.requests_to(SNAPSHOT)) == 2)  # the start, the catch-up on connect
    snapshot.reply = rules_reply({TASK: "link"}, 2)
    # The stream reads each change event's ETag once, where it decides whether to fetch. A fetch that
    # one event wakes begins (and is counted) before the stream reads the next event, so the fetches
    # counted when an event is read tell what the events before it cost: no waiting for nothing.
    fetches_when_read: list[int] = []

    def read_etag(data: str) -> str | None:
        fetches_when_read.append(provider.requests["snapshot"])
        return etag_of(data)

    monkeypatch.setattr(follow, "etag_of", read_etag)

    # An event about the rules already served (a replay) costs nothing...
    assert stub.push('event: change\nid: 1\ndata: {"revision": 1, "etag": "\\"1-stub\\""}\n\n') == 1
    wait_until(lambda: len(fetches_when_read) == 1, what="the stream reads the replayed event")
    # ...an event about new ones refetches at once: nothing else would within the hour.
    stub.push('event: change\nid: 2\ndata: {"revision": 2, "etag": "\\"2-stub\\""}\n\n')
    wait_until(lambda: provider.revision == 2)
    assert fetches_when_read == [2, 2]  # the replay began no fetch
    assert flag_for(TASK) is True
    stub.push('event: refetch\nid: 3\ndata: {"revision": 3, "etag": "\\"3-stub\\""}\n\n')
    wait_until(lambda: len(stub.requests_to(SNAPSHOT)) == 4)


def test_a_stream_that_ends_is_reconnected(stub: StubServer, make_provider: ProviderFactory) -> None:
    stub.route(SNAPSHOT, lambda request: rules_reply({TASK: "link"}, 1))
    stub.route(EVENTS, lambda request: event_stream(CONNECTED, hold=True))
    provider = make_provider(stub.url)
    install_provider(provider, timeout=5)
    wait_until(lambda: provider.streaming)

    stub.close_held()  # as a restarting service would

    wait_until(lambda: len(stub.requests_to(EVENTS)) == 2 and provider.streaming)
    assert provider.state == "live"


@pytest.mark.parametrize(
    "blocked",
    [
        pytest.param(Reply(200, {"Content-Type": "text/html"}, b"<html>buffered</html>"), id="not-sse"),
        pytest.param(Reply(404, body=b"no such route"), id="404"),
        pytest.param(event_stream("\x00\xff garbage without structure", hold=False), id="garbage-sse"),
    ],
)
def test_a_blocked_stream_falls_back_to_polling(
    stub: StubServer, make_provider: ProviderFactory, blocked: Reply
) -> None:
    snapshot = Switchable(rules_reply({TASK: "parent"}, 1))
    stub.route(SNAPSHOT, snapshot)
    stub.route(EVENTS, lambda request: blocked)
    provider = make_provider(stub.url, poll_interval=0.05)
    install_provider(provider, timeout=5)

    snapshot.reply = rules_reply({TASK: "link"}, 2)
    wait_until(lambda: flag_for(TASK) is True)
    assert provider.state == "live"
    assert not provider.streaming
    assert status() is ProviderStatus.READY
    wait_until(lambda: len(stub.requests_to(EVENTS)) >= 2)  # it keeps trying, with backoff


def test_403_on_the_stream_alone_backs_the_stream_off_while_polling_carries_on(
    stub: StubServer, make_provider: ProviderFactory
) -> None:
    snapshot = Switchable(rules_reply({TASK: "link"}, 1))
    stub.route(SNAPSHOT, snapshot)
    stub.route(
        EVENTS, lambda request: Reply(403, {"Content-Type": "application/json"}, b'{"detail": "nope"}')
    )
    provider = make_provider(stub.url, refused_retry_initial=0.3, refused_retry_max=0.3)
    install_provider(provider, timeout=5)
    wait_until(lambda: len(stub.requests_to(EVENTS)) >= 2)

    # The snapshot still answers: the token is good for it, so the provider stays live and keeps polling.
    assert provider.state == "live"
    assert not provider.streaming
    assert flag_for(TASK) is True
    snapshot.reply = rules_reply({TASK: "parent"}, 2)
    wait_until(lambda: flag_for(TASK) is False)
    # The stream is asked again only after the refusal pause (0.15-0.3 s here), never in a tight loop:
    # the recorded arrivals show each pause, and a busy machine can only make them longer.
    started = len(stub.requests_to(EVENTS))
    wait_until(lambda: len(stub.requests_to(EVENTS)) >= started + 3)
    arrivals = [request.at for request in stub.requests_to(EVENTS)]
    assert min(later - earlier for earlier, later in itertools.pairwise(arrivals)) >= 0.149


def test_failed_reports_are_retried_and_never_touch_evaluations(
    stub: StubServer, make_provider: ProviderFactory
) -> None:
    stub.route(SNAPSHOT, lambda request: rules_reply({TASK: "link"}, 1))
    stub.route(EVENTS, lambda request: event_stream(CONNECTED, hold=True))

    def seen(request: Request) -> Reply:
        if len(stub.requests_to(SEEN)) <= 2:
            return Reply(500, body=b"database is down")
        return json_reply({"recorded": 1})

    stub.route(SEEN, seen)
    provider = make_provider(stub.url)
    install_provider(provider, timeout=5)

    assert flag_for(TASK) is True
    wait_until(lambda: len(stub.requests_to(SEEN)) >= 3)
    bodies = [request.json() for request in stub.requests_to(SEEN)]
    assert bodies[0] == bodies[2] == {"worker": "test-worker", "action_ids": [TASK]}
    assert provider.state == "live"
    # Done once accepted: the next report (a sentinel, another task) is the next request, alone.
    flag_for(OTHER_TASK)
    wait_until(
        lambda: any(request.json()["action_ids"] == [OTHER_TASK] for request in stub.requests_to(SEEN))
    )
    assert [request.json()["action_ids"] for request in stub.requests_to(SEEN)[3:]] == [[OTHER_TASK]]


def test_a_rate_limited_report_honours_retry_after(stub: StubServer, make_provider: ProviderFactory) -> None:
    stub.route(SNAPSHOT, lambda request: rules_reply({TASK: "link"}, 1))

    def seen(request: Request) -> Reply:
        if len(stub.requests_to(SEEN)) == 1:
            return Reply(429, {"Retry-After": "1"}, b'{"detail": "slow down"}')
        return json_reply({"recorded": 1})

    stub.route(SEEN, seen)
    provider = make_provider(stub.url, stream=False)  # report_interval 0.05 s, backoff at most 0.2 s
    install_provider(provider, timeout=5)

    assert flag_for(TASK) is True
    wait_until(lambda: len(stub.requests_to(SEEN)) == 2)
    first, second = (request.at for request in stub.requests_to(SEEN))
    assert second - first >= 0.99  # not before Retry-After (backoff alone: at most 0.2 s)
    assert stub.requests_to(SEEN)[1].json()["action_ids"] == [TASK]
    assert flag_for(TASK) is True  # a task never waits for, nor fails on, a report


def test_a_report_the_service_rejects_is_dropped(stub: StubServer, make_provider: ProviderFactory) -> None:
    stub.route(SNAPSHOT, lambda request: rules_reply({}, 1))
    stub.route(SEEN, lambda request: Reply(422, body=b'{"detail": "no"}'))
    provider = make_provider(stub.url, stream=False, poll_interval=3600)
    install_provider(provider, timeout=5)

    flag_for(TASK)
    wait_until(lambda: len(stub.requests_to(SEEN)) == 1)
    # Dropped: the next report (a sentinel, another task) carries only the new task.
    flag_for(OTHER_TASK)
    wait_until(lambda: len(stub.requests_to(SEEN)) == 2)
    assert [request.json()["action_ids"] for request in stub.requests_to(SEEN)] == [[TASK], [OTHER_TASK]]
    assert provider.state == "live"


def test_a_service_answering_from_another_store_is_reported_and_the_old_snapshot_kept(
    stub: StubServer, make_provider: ProviderFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags")
    snapshot = Switchable(rules_reply({TASK: "link"}, 57, store="storeA"))
    stub.route(SNAPSHOT, snapshot)
    snapshot_file = tmp_path / "snapshots" / "flags.json"
    provider = make_provider(stub.url, stream=False, snapshot_file=snapshot_file)
    install_provider(provider, timeout=5)
    assert flag_for(TASK) is True
    assert "store-" not in caplog.text

    # The service restarted on a new, empty database: another store, revision 1, no rules.
    snapshot.reply = rules_reply({}, 1, store="storeB")
    wait_until(lambda: flag_for(TASK) is False)

    [warning] = [r.getMessage() for r in caplog.records if "rules store" in r.getMessage()]
    assert "storeB (revision 1)" in warning
    assert "storeA (revision 57)" in warning
    kept = snapshot_file.with_name("flags.store-storeA.json")
    assert str(kept) in warning
    assert json.loads(kept.read_text())["rules"]["tasks"] == {TASK: "link"}
    # Saved right after the new rules are served: wait for the write.
    wait_until(lambda: json.loads(snapshot_file.read_text())["store"] == "storeB")
    saved = json.loads(snapshot_file.read_text())
    assert (saved["revision"], saved["rules"]["tasks"]) == (1, {})


def test_a_restart_on_another_store_is_noticed_from_the_saved_snapshot(
    stub: StubServer, make_provider: ProviderFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot_file = tmp_path / "flags.json"
    save_snapshot(
        snapshot_file, rules=RuleSet(tasks={TASK: "link"}), url=stub.url, etag=None, revision=9, store="old"
    )
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags")
    stub.route(SNAPSHOT, lambda request: rules_reply({}, 1, store="new"))
    provider = make_provider(stub.url, stream=False, snapshot_file=snapshot_file)
    install_provider(provider, timeout=5)

    wait_until(lambda: "rules store new (revision 1), not from store old (revision 9)" in caplog.text)
    assert snapshot_file.with_name("flags.store-old.json").exists()

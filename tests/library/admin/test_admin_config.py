"""AdminServiceProvider's configuration: arguments, environment variables, the default wiring, and the
small pieces it is built from (snapshot file, task-report queue, Retry-After)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from hatchet_trace_flags import AdminServiceProvider, FlagPredicate, RuleSet, predicate_from_env
from hatchet_trace_flags._admin.protocol import MAX_RETRY_AFTER, retry_after_seconds
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags._admin.snapshot_store import SnapshotFileError, load_snapshot, save_snapshot
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider
from tests.support.flags.admin_service import READ_TOKEN, ProviderFactory, Service
from tests.support.flags.admin_stub import StubServer, rules_reply
from tests.support.waiting import wait_until

TASK = "prod_fanout-worker:process-item"
NOWHERE = "http://127.0.0.1:9"  # discard port: nothing listens


# -- arguments ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must be the admin service's base URL"),
        ("flags:8080", "http:// or https:// URL with a host"),
        ("ftp://flags", "http:// or https:// URL with a host"),
        ("http://user:secret@flags", "must not carry credentials"),
        ("http://flags/?x=1", "without query or fragment"),
    ],
)
def test_a_bad_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="url") as raised:
        AdminServiceProvider(url, persist=False)
    assert message in str(raised.value)
    assert "secret" not in str(raised.value)


def test_the_url_keeps_its_path_prefix_without_trailing_slash() -> None:
    provider = AdminServiceProvider("http://flags.internal:8080/hatchet/", persist=False)
    assert provider.url == "http://flags.internal:8080/hatchet"


def test_requests_go_under_the_path_prefix(stub: StubServer, make_provider: ProviderFactory) -> None:
    stub.route("/prefix/api/v1/snapshot", lambda request: rules_reply({TASK: "link"}, 3))
    provider = make_provider(f"{stub.url}/prefix/", stream=False)

    assert install_provider(provider, timeout=5) is True
    assert provider.revision == 3
    [request] = stub.requests_to("/prefix/api/v1/snapshot")
    assert request.headers["authorization"] == f"Bearer {READ_TOKEN}"


@pytest.mark.parametrize("token", ["", "two words", "tab\there", "naïve", "line\nbreak"])
def test_a_malformed_token_is_refused_without_being_echoed(token: str) -> None:
    with pytest.raises(ValueError, match="token must be non-empty printable ASCII") as raised:
        AdminServiceProvider(NOWHERE, token, persist=False)
    assert token not in str(raised.value) or not token


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"poll_interval": 0}, "poll_interval must be a positive number"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"startup_timeout": float("nan")}, "startup_timeout must be a positive number"),
        ({"stream_idle_timeout": float("inf")}, "stream_idle_timeout must be a positive number"),
        ({"backoff_max": True}, "backoff_max must be a positive number"),
        ({"jitter": 1.0}, "jitter must be a number in [0, 1)"),
        ({"report_batch_size": 1001}, "report_batch_size must be an integer from 1 to 1000"),
        ({"worker_name": "tab\there"}, "worker_name must be 1 to 255 printable characters"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.split()[0]) as raised:
        AdminServiceProvider(NOWHERE, persist=False, **options)
    assert message in str(raised.value)


# -- environment ----------------------------------------------------------------------------------------


def test_from_env_reads_every_variable(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(RuleSet(tasks={TASK: "link"}).dumps())
    provider = AdminServiceProvider.from_env(
        {
            "HATCHET_TRACE_FLAGS_URL": " http://flags:8080 ",
            "HATCHET_TRACE_FLAGS_TOKEN": "a-token",
            "HATCHET_TRACE_FLAGS_STREAM": "off",
            "HATCHET_TRACE_FLAGS_POLL_INTERVAL": "2.5",
            "HATCHET_TRACE_FLAGS_TIMEOUT": "3",
            "HATCHET_TRACE_FLAGS_STARTUP_TIMEOUT": "0.5",
            "HATCHET_TRACE_FLAGS_STREAM_IDLE_TIMEOUT": "40",
            "HATCHET_TRACE_FLAGS_BACKOFF_MAX": "7",
            "HATCHET_TRACE_FLAGS_SNAPSHOT_FILE": str(tmp_path / "snapshot.json"),
            "HATCHET_TRACE_FLAGS_RULES_FILE": str(rules_file),
            "HATCHET_TRACE_FLAGS_REPORT_TASKS": "false",
            "HATCHET_TRACE_FLAGS_WORKER_NAME": "pod-7",
        }
    )
    settings = provider._settings
    assert provider.url == "http://flags:8080"
    assert (settings.token, settings.stream, settings.report_tasks, settings.worker_name) == (
        "a-token",
        False,
        False,
        "pod-7",
    )
    assert (settings.poll_interval, settings.timeout, settings.startup_timeout) == (2.5, 3.0, 0.5)
    assert (settings.stream_idle_timeout, settings.backoff_max) == (40.0, 7.0)
    assert provider.snapshot_path == tmp_path / "snapshot.json"
    assert (provider.source, provider.rules) == ("fallback", RuleSet(tasks={TASK: "link"}))


def test_from_env_falls_back_to_the_links_variable_and_can_turn_persistence_off() -> None:
    provider = AdminServiceProvider.from_env(
        {
            "HATCHET_TRACE_FLAGS_URL": NOWHERE,
            "HATCHET_TRACE_FLAGS_LINKS": "prod_fanout-worker:*",
            "HATCHET_TRACE_FLAGS_SNAPSHOT_FILE": "off",
        }
    )
    assert provider.snapshot_path is None
    assert provider.source == "fallback"
    assert provider.rules.evaluate(TASK).use_links is True


def test_the_default_snapshot_file_is_per_url_in_the_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/worker")
    first = AdminServiceProvider.from_env({"HATCHET_TRACE_FLAGS_URL": "http://a:1"})
    second = AdminServiceProvider.from_env({"HATCHET_TRACE_FLAGS_URL": "http://b:1"})

    assert first.snapshot_path is not None
    assert second.snapshot_path is not None
    assert first.snapshot_path.parent == Path("/var/cache/worker/hatchet-trace-flags")
    assert first.snapshot_path != second.snapshot_path


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HATCHET_TRACE_FLAGS_URL", "flags:8080"),
        ("HATCHET_TRACE_FLAGS_TOKEN", "has space"),
        ("HATCHET_TRACE_FLAGS_STREAM", "maybe"),
        ("HATCHET_TRACE_FLAGS_POLL_INTERVAL", "soon"),
        ("HATCHET_TRACE_FLAGS_TIMEOUT", "0"),
        ("HATCHET_TRACE_FLAGS_STARTUP_TIMEOUT", "-1"),
        ("HATCHET_TRACE_FLAGS_STREAM_IDLE_TIMEOUT", "inf"),
        ("HATCHET_TRACE_FLAGS_BACKOFF_MAX", "nan"),
        ("HATCHET_TRACE_FLAGS_REPORT_TASKS", "2"),
        ("HATCHET_TRACE_FLAGS_WORKER_NAME", "x" * 256),
        ("HATCHET_TRACE_FLAGS_LINKS", "a:b, *"),
        ("HATCHET_TRACE_FLAGS_CA_FILE", "/nonexistent/ca.pem"),
    ],
)
def test_a_bad_variable_is_named_and_nothing_is_registered(variable: str, value: str) -> None:
    environ = {"HATCHET_TRACE_FLAGS_URL": NOWHERE, variable: value}
    with pytest.raises(ValueError, match=variable):
        predicate_from_env(environ)
    assert api.get_provider_metadata(OPENFEATURE_DOMAIN).name == "No-op Provider"


def test_url_and_token_are_all_a_worker_needs(service: Service, tmp_path: Path) -> None:
    service.set_task(TASK, "link")
    predicate = predicate_from_env(
        {
            "HATCHET_TRACE_FLAGS_URL": service.url,
            "HATCHET_TRACE_FLAGS_TOKEN": READ_TOKEN,
            "HATCHET_TRACE_FLAGS_SNAPSHOT_FILE": str(tmp_path / "snapshot.json"),
        }
    )
    assert isinstance(predicate, FlagPredicate)
    try:
        provider = api.get_client(OPENFEATURE_DOMAIN).provider
        assert isinstance(provider, AdminServiceProvider)
        assert provider.state == "live"
        assert predicate(TASK) is True
        service.set_task(TASK, "parent")
        wait_until(lambda: predicate(TASK) is False)
    finally:
        predicate.close()


# -- the snapshot file ----------------------------------------------------------------------------------


def test_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "snapshot.json"
    rules = RuleSet(tasks={TASK: "link"}, patterns={"*:send-email": "link"})
    save_snapshot(path, rules=rules, url="http://flags:8080", etag='"4-abc"', revision=4)

    loaded = load_snapshot(path)
    assert loaded is not None
    assert (loaded.rules, loaded.url, loaded.etag, loaded.revision) == (
        rules,
        "http://flags:8080",
        '"4-abc"',
        4,
    )
    assert load_snapshot(tmp_path / "missing.json") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"rules": {}}', "is not a hatchet-trace-flags snapshot"),
        (
            '{"format": "hatchet-trace-flags snapshot", "format_version": 99, "rules": {}}',
            "has format_version 99",
        ),
        (
            '{"format": "hatchet-trace-flags snapshot", "format_version": 1,'
            ' "rules": {"version": 1, "default": "x"}}',
            "holds invalid rules: default:",
        ),
    ],
)
def test_a_bad_snapshot_file_is_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(content)
    with pytest.raises(SnapshotFileError, match=str(path)) as raised:
        load_snapshot(path)
    assert message in str(raised.value)


def test_a_bad_snapshot_file_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text("{not json")
    provider = AdminServiceProvider(
        NOWHERE, snapshot_file=path, fallback=RuleSet(tasks={TASK: "link"}), report_tasks=False
    )
    assert provider.source == "fallback"
    assert provider.rules.evaluate(TASK).use_links is True
    assert f"the snapshot file {path} is not valid JSON" in caplog.text


def test_a_snapshot_of_another_url_gives_its_rules_but_not_its_etag(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    save_snapshot(path, rules=RuleSet(tasks={TASK: "link"}), url="http://old:8080", etag='"9-x"', revision=9)

    same = AdminServiceProvider("http://old:8080", snapshot_file=path)
    moved = AdminServiceProvider("http://new:8080", snapshot_file=path)

    assert same.etag == '"9-x"'
    assert moved.etag is None
    assert moved.source == "snapshot file"
    assert moved.rules.evaluate(TASK).use_links is True


def test_an_unwritable_snapshot_location_is_an_error_that_leaves_nothing_behind(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(SnapshotFileError, match="cannot write the snapshot file"):
        save_snapshot(
            not_a_directory / "snapshot.json", rules=RuleSet(), url="http://a:1", etag=None, revision=None
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_a_failing_snapshot_write_never_stops_following(
    service: Service, make_provider: ProviderFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    provider = make_provider(service.url, snapshot_file=not_a_directory / "snapshot.json")
    install_provider(provider, timeout=5)

    service.set_task(TASK, "link")
    wait_until(lambda: provider.rules.evaluate(TASK).use_links)
    service.set_task(TASK, "parent")
    wait_until(lambda: not provider.rules.evaluate(TASK).use_links)
    assert provider.state == "live"
    warnings = [
        record for record in caplog.records if "cannot write the snapshot file" in record.getMessage()
    ]
    assert len(warnings) == 1  # once, not on every change


# -- pieces -------------------------------------------------------------------------------------------------


def test_seen_tasks_queue_once_and_again_after_the_refresh_period() -> None:
    now = [0.0]
    seen = SeenTasks(refresh=60, timer=lambda: now[0])
    for action_id in ("a:x", "a:y", "a:x"):
        seen.note(action_id)
    batch = seen.take(10)
    assert batch == ["a:x", "a:y"]
    seen.confirm(batch)

    seen.note("a:x")
    assert seen.take(10) == []
    now[0] = 61
    seen.note("a:x")
    assert seen.take(10) == ["a:x"]


def test_seen_tasks_requeue_and_stay_bounded() -> None:
    seen = SeenTasks(refresh=60)
    for number in range(10_050):
        seen.note(f"w:task-{number}")
    assert len(seen) == 10_000
    assert seen.dropped == 50
    batch = seen.take(100)
    seen.requeue(batch)
    assert len(seen) == 10_000


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    clock = now.timestamp
    assert retry_after_seconds("5", now=clock) == 5.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=clock) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now=clock) == 0.0
    assert retry_after_seconds("99999999", now=clock) == MAX_RETRY_AFTER
    assert retry_after_seconds("soon", now=clock) is None
    assert retry_after_seconds(None) is None


def test_the_persisted_document_is_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    save_snapshot(path, rules=RuleSet(), url="http://a:1", etag=None, revision=None)
    document = json.loads(path.read_text())
    assert document["format"] == "hatchet-trace-flags snapshot"
    assert RuleSet.from_document(document["rules"]) == RuleSet()


def test_evaluations_answer_like_the_rules_provider(make_provider: ProviderFactory) -> None:
    provider = make_provider(NOWHERE, fallback=RuleSet(patterns={"prod_fanout-worker:*": "link"}))
    details = provider.resolve_boolean_details(
        "hatchet.use-links-instead-of-parent", False, EvaluationContext(TASK)
    )
    assert (details.value, details.variant, details.flag_metadata["reason"]) == (True, "link", "pattern")

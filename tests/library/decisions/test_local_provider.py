"""RulesProvider (OpenFeature resolution, swaps, error states) and LocalProvider (object, env, file)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode, GeneralError
from openfeature.flag_evaluation import Reason
from openfeature.provider import FeatureProvider, ProviderStatus

from hatchet_trace_flags import LocalProvider, RulesProvider
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RulesError, RuleSet
from tests.support.flags.flags import our_threads, run_in_child
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")

FANOUT = RuleSet(patterns={"fanout-worker:*": "link"}, tasks={"fanout-worker:collect": "parent"})
POLL = 0.02  # seconds: fast polling keeps these tests quick


class Events:
    """Records what a provider emits, through the provider's own ``attach`` hook (synchronous)."""

    def __init__(self) -> None:
        self.emitted: list[tuple[ProviderEvent, ProviderEventDetails]] = []
        self._changed = threading.Condition()

    def __call__(
        self, provider: FeatureProvider, event: ProviderEvent, details: ProviderEventDetails
    ) -> None:
        with self._changed:
            self.emitted.append((event, details))
            self._changed.notify_all()

    def of(self, event: ProviderEvent) -> list[ProviderEventDetails]:
        with self._changed:
            return [details for emitted, details in self.emitted if emitted is event]

    def kinds(self) -> list[ProviderEvent]:
        with self._changed:
            return [event for event, _ in self.emitted]

    def wait_for(
        self, event: ProviderEvent, count: int = 1, timeout: float = 5.0
    ) -> list[ProviderEventDetails]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.of(event)) >= count, timeout)
        found = self.of(event)
        assert len(found) >= count, f"expected {count} x {event}, got {self.kinds()}"
        return found


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def watched(tmp_path: Path, events: Events) -> Iterator[Callable[..., LocalProvider]]:
    """Starts file-backed providers the way OpenFeature does (attach, initialize) and shuts them down."""
    started: list[LocalProvider] = []

    def start(path: Path, *, expect_error: bool = False) -> LocalProvider:
        provider = LocalProvider.from_file(path, poll_interval=POLL)
        provider.attach(events)
        started.append(provider)
        if expect_error:
            with pytest.raises(GeneralError):
                provider.initialize(EvaluationContext())
        else:
            provider.initialize(EvaluationContext())
        return provider

    yield start
    for provider in started:
        provider.shutdown()


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def decide(provider: RulesProvider, action_id: str) -> bool:
    return provider.rules.evaluate(action_id).use_links


# -- RulesProvider: resolution ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "value", "variant", "reason", "metadata"),
    [
        (
            "fanout-worker:a",
            True,
            "link",
            Reason.TARGETING_MATCH,
            {"reason": "pattern", "rule": "fanout-worker:*"},
        ),
        (
            "fanout-worker:collect",
            False,
            "parent",
            Reason.TARGETING_MATCH,
            {"reason": "exact", "rule": "fanout-worker:collect"},
        ),
        ("billing:charge", False, "parent", Reason.DEFAULT, {"reason": "default"}),
    ],
)
def test_resolves_the_boolean_flag_through_openfeature(
    action_id: str, value: bool, variant: str, reason: Reason, metadata: dict[str, str]
) -> None:
    provider = RulesProvider(FANOUT)
    api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)

    details = api.get_client(OPENFEATURE_DOMAIN).get_boolean_details(
        DEFAULT_FLAG_KEY, not value, EvaluationContext(action_id)
    )

    assert (details.value, details.variant, details.reason, details.error_code) == (
        value,
        variant,
        reason,
        None,
    )
    assert details.flag_metadata == {**metadata, "version": provider.version}


def test_kill_switch_resolves_disabled() -> None:
    api.set_provider_and_wait(RulesProvider(FANOUT.with_settings(links_enabled=False)), OPENFEATURE_DOMAIN)

    details = api.get_client(OPENFEATURE_DOMAIN).get_boolean_details(
        DEFAULT_FLAG_KEY, True, EvaluationContext("fanout-worker:a")
    )

    assert (details.value, details.variant, details.reason) == (False, "parent", Reason.DISABLED)
    assert details.flag_metadata["reason"] == "disabled"


def test_error_codes() -> None:
    api.set_provider_and_wait(RulesProvider(FANOUT), OPENFEATURE_DOMAIN)
    client = api.get_client(OPENFEATURE_DOMAIN)
    context = EvaluationContext("fanout-worker:a")

    unknown = client.get_boolean_details("some.other.flag", True, context)
    no_key = client.get_boolean_details(DEFAULT_FLAG_KEY, True, EvaluationContext())
    as_string = client.get_string_details(DEFAULT_FLAG_KEY, "x", context)
    as_integer = client.get_integer_details(DEFAULT_FLAG_KEY, 3, context)
    as_float = client.get_float_details(DEFAULT_FLAG_KEY, 0.5, context)
    as_object = client.get_object_details(DEFAULT_FLAG_KEY, {}, context)
    other_as_string = client.get_string_details("some.other.flag", "x", context)

    assert (unknown.error_code, unknown.value) == (ErrorCode.FLAG_NOT_FOUND, True)
    assert (no_key.error_code, no_key.value) == (ErrorCode.TARGETING_KEY_MISSING, True)
    for details in (as_string, as_integer, as_float, as_object):
        assert details.error_code == ErrorCode.TYPE_MISMATCH
    assert other_as_string.error_code == ErrorCode.FLAG_NOT_FOUND
    assert DEFAULT_FLAG_KEY in (unknown.error_message or "")


def test_declares_in_process_evaluation() -> None:
    assert RulesProvider().evaluates_in_process is True
    assert LocalProvider().evaluates_in_process is True


def test_default_rules_are_parent_everywhere() -> None:
    assert decide(RulesProvider(), "fanout-worker:a") is False


def test_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="RuleSet"):
        RulesProvider({"tasks": {}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flag_key"):
        RulesProvider(flag_key="")


# -- RulesProvider: swaps and health ---------------------------------------------------------------


def test_replace_rules_announces_only_real_changes(events: Events) -> None:
    provider = RulesProvider(FANOUT)
    provider.attach(events)
    old_version = provider.version

    unchanged = provider._replace_rules(RuleSet.loads(FANOUT.dumps()))
    changed = provider._replace_rules(FANOUT.with_task("billing:charge", "link"), version="etag-7")

    assert (unchanged, changed) == (False, True)
    [details] = events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert details.flags_changed == [DEFAULT_FLAG_KEY]
    assert events.kinds() == [ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    assert provider.version == "etag-7" != old_version
    assert decide(provider, "billing:charge") is True


def test_error_keeps_serving_and_recovers() -> None:
    provider = RulesProvider(FANOUT)
    api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)
    client = api.get_client(OPENFEATURE_DOMAIN)
    context = EvaluationContext("fanout-worker:a")

    provider._report_error("snapshot fetch failed: 503")
    provider._report_error("snapshot fetch failed: 503")  # the same problem again: no new event

    status_in_error = client.get_provider_status()
    assert status_in_error is ProviderStatus.ERROR
    error_while_down = provider.last_error
    assert error_while_down == "snapshot fetch failed: 503"
    assert client.get_boolean_value(DEFAULT_FLAG_KEY, False, context) is True  # last good rules

    provider._replace_rules(FANOUT.with_settings(links_enabled=False))

    status_recovered = client.get_provider_status()
    assert status_recovered is ProviderStatus.READY
    assert provider.last_error is None
    assert client.get_boolean_value(DEFAULT_FLAG_KEY, True, context) is False


def test_error_events_once_per_distinct_problem(events: Events) -> None:
    provider = RulesProvider(FANOUT)
    provider.attach(events)

    provider._report_error("first")
    provider._report_error("first")
    provider._report_error("second", error_code=ErrorCode.PARSE_ERROR)
    provider._report_stale("behind")
    provider._recover()
    provider._recover()

    assert events.kinds() == [
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_READY,
    ]
    assert events.of(ProviderEvent.PROVIDER_ERROR)[1].error_code is ErrorCode.PARSE_ERROR
    assert [d.message for d in events.of(ProviderEvent.PROVIDER_ERROR)] == ["first", "second"]


def test_recovery_with_a_change_emits_ready_then_configuration_changed(events: Events) -> None:
    provider = RulesProvider(FANOUT)
    provider.attach(events)
    provider._report_error("down")

    provider._replace_rules(RuleSet())

    assert events.kinds() == [
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ]


# -- LocalProvider: object and environment ---------------------------------------------------------


def test_serves_a_rule_set_object_without_threads() -> None:
    provider = LocalProvider(FANOUT)
    api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)

    assert decide(provider, "fanout-worker:a") is True
    assert provider.path is None
    assert not our_threads()


def test_from_env_links_the_listed_tasks_and_patterns() -> None:
    provider = LocalProvider.from_env({"HATCHET_TRACE_FLAGS_LINKS": "billing:charge, fanout-worker:*\nx:y"})

    assert [decide(provider, a) for a in ("billing:charge", "fanout-worker:z", "x:y", "billing:refund")] == [
        True,
        True,
        True,
        False,
    ]


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_LINKS", "fanout-worker:*")

    assert decide(LocalProvider.from_env(), "fanout-worker:a") is True


@pytest.mark.parametrize("value", [None, "", "  ,  "])
def test_from_env_without_entries_is_parent_everywhere(value: str | None) -> None:
    environ = {} if value is None else {"HATCHET_TRACE_FLAGS_LINKS": value}

    provider = LocalProvider.from_env(environ)

    assert provider.rules == RuleSet()


def test_from_env_rejects_a_bad_entry_naming_the_variable() -> None:
    with pytest.raises(RulesError) as raised:
        LocalProvider.from_env({"HATCHET_TRACE_FLAGS_LINKS": "fanout-worker:*, bad*pattern"})

    assert raised.value.field == "HATCHET_TRACE_FLAGS_LINKS"
    assert "bad*pattern" in str(raised.value)


# -- LocalProvider: the rules file -----------------------------------------------------------------


def test_loads_the_file_when_built(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())

    provider = LocalProvider.from_file(path)

    assert provider.rules == FANOUT
    assert provider.path == path
    assert provider.last_error is None
    assert not our_threads()  # the watcher starts with initialize, not before


@pytest.mark.parametrize("write", [write_atomically, Path.write_text], ids=["atomic-replace", "in-place"])
def test_an_edit_takes_effect_and_is_announced(
    tmp_path: Path,
    watched: Callable[..., LocalProvider],
    events: Events,
    write: Callable[[Path, str], object],
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = watched(path)

    write(path, json.dumps({"version": 1, "links_enabled": False}))

    [details] = events.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert details.flags_changed == [DEFAULT_FLAG_KEY]
    assert decide(provider, "fanout-worker:a") is False


def test_a_broken_file_keeps_the_last_good_rules_and_reports_once(
    tmp_path: Path, watched: Callable[..., LocalProvider], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = watched(path)

    write_atomically(path, json.dumps({"version": 1, "patterns": {"fanout-*-worker": "link"}}))
    [error] = events.wait_for(ProviderEvent.PROVIDER_ERROR)

    assert str(path) in (error.message or "")
    assert "patterns['fanout-*-worker']" in (error.message or "")
    assert decide(provider, "fanout-worker:a") is True  # last good rules
    # Many polls later: still one event and one log line for this one problem.
    threading.Event().wait(POLL * 10)
    assert len(events.of(ProviderEvent.PROVIDER_ERROR)) == 1
    assert sum("patterns['fanout-*-worker']" in r.getMessage() for r in caplog.records) == 1

    write_atomically(path, json.dumps({"version": 1, "tasks": {"billing:charge": "link"}}))

    events.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert events.kinds() == [
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ]
    assert decide(provider, "billing:charge") is True
    assert provider.last_error is None


def test_a_deleted_file_keeps_the_rules_and_its_return_recovers(
    tmp_path: Path, watched: Callable[..., LocalProvider], events: Events
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = watched(path)

    path.unlink()
    [error] = events.wait_for(ProviderEvent.PROVIDER_ERROR)
    assert str(path) in (error.message or "")
    assert decide(provider, "fanout-worker:a") is True

    path.write_text(FANOUT.dumps())  # the same rules again: ready, but nothing changed
    events.wait_for(ProviderEvent.PROVIDER_READY)
    assert events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) == []


def test_a_file_missing_at_start_serves_parent_then_picks_the_file_up(tmp_path: Path, events: Events) -> None:
    path = tmp_path / "not-yet.json"
    provider = LocalProvider.from_file(path, poll_interval=POLL)
    with pytest.raises(GeneralError) as raised:
        api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)
    client = api.get_client(OPENFEATURE_DOMAIN)

    assert str(path) in (raised.value.error_message or "")
    assert client.get_provider_status() is ProviderStatus.ERROR
    assert client.get_boolean_value(DEFAULT_FLAG_KEY, True, EvaluationContext("fanout-worker:a")) is False

    write_atomically(path, FANOUT.dumps())

    wait_until(lambda: client.get_provider_status() is ProviderStatus.READY)
    assert client.get_boolean_value(DEFAULT_FLAG_KEY, False, EvaluationContext("fanout-worker:a")) is True


def test_a_half_written_file_is_not_reported_until_seen_twice(tmp_path: Path, events: Events) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = LocalProvider.from_file(path)  # not started: the test polls by hand
    provider.attach(events)

    path.write_text('{"version": 1, "patt')
    provider._poll(confirm_failures=True)
    assert events.emitted == []  # maybe a write in progress
    provider._poll(confirm_failures=True)

    assert events.kinds() == [ProviderEvent.PROVIDER_ERROR]
    assert "not valid JSON" in (events.of(ProviderEvent.PROVIDER_ERROR)[0].message or "")


def test_touching_the_file_without_changing_it_emits_nothing(
    tmp_path: Path, watched: Callable[..., LocalProvider], events: Events
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    watched(path)

    write_atomically(path, FANOUT.dumps())  # new inode and mtime, same content
    write_atomically(path, RuleSet().dumps())  # then a real change, to know the first one was seen

    events.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert len(events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)) == 1


def test_shutdown_stops_the_watcher(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = LocalProvider.from_file(path, poll_interval=POLL)
    provider.initialize(EvaluationContext())
    assert len(our_threads()) == 1

    provider.shutdown()

    assert our_threads() == []
    path.write_text(RuleSet().dumps())
    threading.Event().wait(POLL * 5)
    assert provider.rules == FANOUT  # nobody watches any more


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), True])
def test_rejects_a_bad_poll_interval(tmp_path: Path, interval: float) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        LocalProvider.from_file(tmp_path / "rules.json", poll_interval=interval)


def test_the_watcher_runs_again_in_a_forked_child(
    tmp_path: Path, watched: Callable[..., LocalProvider]
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(FANOUT.dumps())
    provider = watched(path)

    def child() -> bool:
        # Only the child's own watcher thread can notice this edit.
        write_atomically(path, RuleSet().dumps())
        wait_until(lambda: decide(provider, "fanout-worker:a") is False, within=20, what="the child's reload")
        return True

    assert run_in_child(child) is True

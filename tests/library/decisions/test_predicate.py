"""FlagPredicate against real OpenFeature providers: caching, flips, failures, threads, fork, metrics."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from openfeature import _event_support, api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hatchet_trace_flags import FlagPredicate, RulesProvider
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RuleSet
from tests.support.flags.flags import (
    Clock,
    ScriptedProvider,
    decision_counts,
    install,
    our_threads,
    run_in_child,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")

FANOUT = RuleSet(patterns={"fanout-worker:*": "link"}, tasks={"fanout-worker:collect": "parent"})


# -- in-process providers -------------------------------------------------------------------------------


def test_decides_per_task_from_an_in_process_provider(make_predicate: Callable[..., FlagPredicate]) -> None:
    install(RulesProvider(FANOUT))
    predicate = make_predicate()

    assert predicate("fanout-worker:process-item") is True
    assert predicate("fanout-worker:collect") is False
    assert predicate("billing:charge") is False


def test_evaluation_context_targets_the_action_id_with_workflow_and_task(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    provider = ScriptedProvider({"prod_fanout-worker:process-item": True}, in_process=True)
    install(provider)

    assert make_predicate()("prod_fanout-worker:process-item") is True

    [context] = provider.contexts
    assert context is not None
    assert context.targeting_key == "prod_fanout-worker:process-item"
    assert context.attributes == {"workflow": "prod_fanout-worker", "task": "process-item"}


def test_cached_decision_does_not_ask_the_provider_again(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    provider = ScriptedProvider({"a:b": True}, in_process=True)
    install(provider)
    predicate = make_predicate()

    results = [predicate("a:b") for _ in range(5)]

    assert results == [True] * 5
    assert provider.calls_for("a:b") == 1
    assert decision_counts(reader) == {
        ("link", "targeting_match", "evaluated"): 1,
        ("link", "targeting_match", "cache"): 4,
    }


def test_flip_through_the_provider_reaches_the_next_call(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    provider = RulesProvider(FANOUT)
    install(provider)
    predicate = make_predicate(ttl=3600)  # the clock never moves: only the change event can refresh
    assert predicate("fanout-worker:process-item") is True

    provider._replace_rules(FANOUT.with_settings(links_enabled=False))

    wait_until(lambda: predicate("fanout-worker:process-item") is False)


def test_ttl_expiry_re_asks_a_provider_that_emits_no_events(
    make_predicate: Callable[..., FlagPredicate], clock: Clock
) -> None:
    provider = ScriptedProvider({"a:b": True}, in_process=True)
    install(provider)
    predicate = make_predicate(ttl=30)
    assert predicate("a:b") is True

    provider.answers["a:b"] = False
    clock.advance(29)
    assert predicate("a:b") is True
    clock.advance(2)
    assert predicate("a:b") is False


def test_global_provider_is_used_when_none_is_bound_to_our_domain(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    install(RulesProvider(FANOUT), domain=None)

    assert make_predicate()("fanout-worker:process-item") is True


def test_explicit_client_and_flag_key(make_predicate: Callable[..., FlagPredicate]) -> None:
    install(RulesProvider(FANOUT, flag_key="team.links"), domain="team")
    predicate = make_predicate(client=api.get_client("team"), flag_key="team.links")

    assert predicate("fanout-worker:process-item") is True
    assert predicate.client.domain == "team"


# -- failures --------------------------------------------------------------------------------------


def test_provider_exception_serves_last_known_decision_then_default(
    make_predicate: Callable[..., FlagPredicate],
    clock: Clock,
    reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = ScriptedProvider({"a:b": True, "c:d": True}, in_process=True)
    install(provider)
    predicate = make_predicate(ttl=30)
    assert predicate("a:b") is True

    provider.failure = RuntimeError("flag backend down")
    clock.advance(31)

    assert predicate("a:b") is True  # last known
    assert predicate("c:d") is False  # never known: the default, parent mode
    assert "flag backend down" in caplog.text
    counts = decision_counts(reader)
    assert counts[("link", "error", "fallback")] == 1
    assert counts[("parent", "error", "fallback")] == 1


def test_failing_provider_is_asked_once_per_ttl_not_once_per_task(
    make_predicate: Callable[..., FlagPredicate], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    provider = ScriptedProvider(in_process=True)
    provider.failure = RuntimeError("boom")
    install(provider)
    predicate = make_predicate(ttl=30, default=True)

    results = [predicate("a:b") for _ in range(10)]

    assert results == [True] * 10
    assert provider.calls_for("a:b") == 1
    ours = [record for record in caplog.records if record.name == "hatchet_trace_flags"]
    assert len(ours) == 1  # logged once, not per task
    assert "boom" in ours[0].getMessage()
    clock.advance(31)
    predicate("a:b")
    assert provider.calls_for("a:b") == 2


def test_unknown_flag_key_falls_back_to_parent(make_predicate: Callable[..., FlagPredicate]) -> None:
    install(RulesProvider(FANOUT))

    assert make_predicate(flag_key="not.our.flag")("fanout-worker:process-item") is False


@pytest.mark.parametrize("bad", [None, 42, ("a", "b"), ["unhashable"]])
def test_never_raises_on_bad_input(make_predicate: Callable[..., FlagPredicate], bad: Any) -> None:
    install(RulesProvider(FANOUT))

    assert make_predicate()(bad) is False


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ttl", 0),
        ("ttl", float("nan")),
        ("ttl", True),
        ("maxsize", 0),
        ("refresh_timeout", -1.0),
        ("flag_key", ""),
        ("max_pending_refreshes", 0),
        ("refresh_threads", 1.5),
    ],
)
def test_rejects_bad_options(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        FlagPredicate(**{option: value})  # type: ignore[arg-type]


def test_rejects_non_bool_default() -> None:
    with pytest.raises(TypeError, match="default"):
        FlagPredicate(default=1)  # type: ignore[arg-type]


# -- providers that may do I/O ---------------------------------------------------------------------


def test_slow_provider_never_blocks_the_caller(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, reader: InMemoryMetricReader
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate()
    scripted.gate.clear()  # the provider hangs from now on

    # Each call returns while the provider is still stuck: it runs on a refresh thread, not here.
    assert [predicate("a:b") for _ in range(20)] == [False] * 20
    wait_until(lambda: scripted.calls_for("a:b") == 1)
    assert scripted.calls_for("a:b") == 1  # one refresh in flight per action_id, not one per call

    scripted.gate.set()
    wait_until(lambda: predicate("a:b") is True)
    assert decision_counts(reader)[("parent", "pending", "fallback")] >= 20


def test_expired_decision_is_served_while_refreshing(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, clock: Clock
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=30, refresh_timeout=5)
    predicate("a:b")
    wait_until(lambda: predicate("a:b") is True)

    scripted.answers["a:b"] = False
    scripted.gate.clear()
    clock.advance(31)

    assert predicate("a:b") is True  # stale, while the refresh hangs
    scripted.gate.set()
    wait_until(lambda: predicate("a:b") is False)


def test_refresh_older_than_the_timeout_is_abandoned_and_its_answer_ignored(
    make_predicate: Callable[..., FlagPredicate],
    scripted: ScriptedProvider,
    clock: Clock,
    reader: InMemoryMetricReader,
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=30, refresh_timeout=5)
    scripted.gate.clear()
    assert predicate("a:b") is False  # pending
    wait_until(lambda: scripted.calls_for("a:b") == 1)

    clock.advance(6)  # that refresh is now abandoned
    assert predicate("a:b") is False
    assert decision_counts(reader)[("parent", "timeout", "fallback")] == 1
    scripted.gate.set()  # both the abandoned refresh and its replacement answer now

    wait_until(lambda: scripted.calls_for("a:b") == 2)
    wait_until(lambda: predicate("a:b") is True)  # from the replacement, within its timeout


def test_refreshes_are_bounded(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    install(scripted)
    predicate = make_predicate(max_pending_refreshes=2, refresh_threads=1)
    scripted.gate.clear()

    for index in range(10):
        assert predicate(f"w:task-{index}") is False

    wait_until(lambda: len(scripted.contexts) == 1)
    scripted.gate.set()
    wait_until(lambda: len(scripted.contexts) == 2)
    assert len(scripted.contexts) == 2  # the eight others were skipped, not queued


def test_configuration_change_refreshes_known_decisions_of_a_remote_provider(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=3600)
    predicate("a:b")
    wait_until(lambda: predicate("a:b") is True)

    scripted.answers["a:b"] = False
    scripted.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=[DEFAULT_FLAG_KEY]))

    wait_until(lambda: predicate("a:b") is False)


# -- threads, fork, lifecycle ----------------------------------------------------------------------


def test_many_threads_get_consistent_decisions_and_exact_counts(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    provider = RulesProvider(FANOUT)
    install(provider)
    predicate = make_predicate(ttl=3600)
    action_ids = [f"fanout-worker:task-{index}" for index in range(40)] + ["billing:charge"]
    threads_count, calls_per_thread = 8, 3_000
    errors: list[BaseException] = []
    results: list[set[object]] = [set() for _ in range(threads_count)]
    start = threading.Barrier(threads_count + 1)

    def hammer(index: int) -> None:
        try:
            start.wait()
            for call in range(calls_per_thread):
                results[index].add(predicate(action_ids[call % len(action_ids)]))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=hammer, args=(index,)) for index in range(threads_count)]
    for worker in workers:
        worker.start()
    start.wait()
    for flip in range(20):  # flip the rules while they run
        provider._replace_rules(FANOUT.with_settings(links_enabled=flip % 2 == 1))
    for worker in workers:
        worker.join()

    assert not errors
    assert set().union(*results) <= {True, False}
    assert sum(decision_counts(reader).values()) == threads_count * calls_per_thread
    # The last flip re-enabled links: everyone converges on it.
    wait_until(lambda: all(predicate(a) is True for a in action_ids[:-1]))
    assert predicate("billing:charge") is False


def test_after_fork_the_child_keeps_its_cache_and_sees_flips(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    provider = RulesProvider(FANOUT)
    install(provider)
    predicate = make_predicate(ttl=3600)
    assert predicate("fanout-worker:a") is True
    # Make OpenFeature's event thread exist before the fork, as it does in any real worker.
    provider._replace_rules(FANOUT.with_task("fanout-worker:b", "parent"))
    wait_until(lambda: predicate("fanout-worker:b") is False)

    def child() -> list[bool]:
        cached = predicate("fanout-worker:a")
        provider._replace_rules(FANOUT.with_settings(links_enabled=False))
        # Within run_in_child's own 30 s bound, so that a failure reports what did not happen.
        wait_until(lambda: predicate("fanout-worker:a") is False, within=20, what="the child's flip")
        return [cached]

    assert run_in_child(child) == [True]
    assert predicate("fanout-worker:a") is True  # the child's flip stays in the child


def test_after_fork_the_child_refreshes_on_its_own_threads(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers.update({"a:b": True, "c:d": True})
    install(scripted)
    predicate = make_predicate(first_decision_budget=0)  # no waiting: the refresh itself is observed
    predicate("a:b")
    wait_until(lambda: predicate("a:b") is True)  # refresh threads now run in the parent

    def child() -> list[bool]:
        first = predicate("c:d")  # unknown: pending, refreshed in the background
        wait_until(lambda: predicate("c:d") is True, within=20, what="the child's own refresh")
        return [first]

    assert run_in_child(child) == [False]


def test_close_stops_refresh_threads_and_is_idempotent(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    install(scripted)
    predicate = make_predicate()
    predicate("a:b")
    wait_until(lambda: any(t.name.startswith("hatchet-trace-flags-refresh") for t in our_threads()))

    predicate.close()
    predicate.close()

    wait_until(lambda: not our_threads())
    assert predicate("a:b") is False  # still answers


def test_a_forgotten_predicate_releases_its_threads_and_handlers(
    scripted: ScriptedProvider, meter_provider: MeterProvider
) -> None:
    install(scripted)
    client = api.get_client(OPENFEATURE_DOMAIN)
    predicate = FlagPredicate(client, meter_provider=meter_provider)
    predicate("a:b")
    wait_until(lambda: bool(our_threads()))

    del predicate
    gc.collect()

    wait_until(lambda: not our_threads())
    assert _event_support._client_handlers[client][ProviderEvent.PROVIDER_CONFIGURATION_CHANGED] == []


def test_two_predicates_on_one_meter_provider_are_both_counted(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    install(RulesProvider(FANOUT))
    first, second = make_predicate(), make_predicate()

    first("fanout-worker:a")
    second("fanout-worker:a")
    second("billing:charge")

    assert decision_counts(reader) == {
        ("link", "pattern", "evaluated"): 2,
        ("parent", "default", "evaluated"): 1,
    }


def test_reports_rule_reasons_through_the_metric(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    install(RulesProvider(FANOUT))
    predicate = make_predicate()

    for action_id in ("fanout-worker:a", "fanout-worker:a", "fanout-worker:collect", "billing:x"):
        predicate(action_id)

    assert decision_counts(reader) == {
        ("link", "pattern", "evaluated"): 1,
        ("link", "pattern", "cache"): 1,
        ("parent", "exact", "evaluated"): 1,
        ("parent", "default", "evaluated"): 1,
    }


def test_unready_provider_is_retried_not_cached(
    make_predicate: Callable[..., FlagPredicate], meter_provider: MeterProvider
) -> None:
    release = threading.Event()

    class SlowStart(RulesProvider):
        def initialize(self, evaluation_context: EvaluationContext) -> None:
            release.wait(10)

    api.set_provider(SlowStart(FANOUT), OPENFEATURE_DOMAIN)
    client: OpenFeatureClient = api.get_client(OPENFEATURE_DOMAIN)
    predicate = make_predicate(ttl=3600)
    try:
        assert predicate("fanout-worker:a") is False  # PROVIDER_NOT_READY: parent
    finally:
        release.set()
    wait_until(lambda: client.get_provider_status().value == "READY")
    assert predicate("fanout-worker:a") is True

"""FlagPredicate's first decision for an action_id: the provider's answer, within a budget, or prefetched."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hatchet_trace_flags import FlagPredicate
from tests.support.flags.flags import ScriptedProvider, decision_counts, install
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")


def test_first_decision_of_a_provider_that_may_do_io_is_its_answer(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, reader: InMemoryMetricReader
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    # A budget long enough for a loaded CI machine; a fast provider answers in microseconds anyway.
    predicate = make_predicate(first_decision_budget=5.0)

    assert predicate("a:b") is True
    assert predicate("a:b") is True
    assert scripted.calls_for("a:b") == 1
    assert decision_counts(reader) == {
        ("link", "targeting_match", "evaluated"): 1,
        ("link", "targeting_match", "cache"): 1,
    }


def test_a_stalled_provider_costs_one_task_start_the_budget_once(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, reader: InMemoryMetricReader
) -> None:
    scripted.answers.update({"a:b": True, "c:d": True, "e:f": True})
    install(scripted)
    predicate = make_predicate(first_decision_budget=2.0)
    scripted.gate.clear()  # the provider hangs from now on

    assert predicate("a:b") is False  # waited the budget, then the default
    started = time.monotonic()
    answers = [predicate("c:d") for _ in range(10)] + [predicate("a:b")]
    # No further waiting while the provider is stuck: eleven calls take far less than one budget.
    assert time.monotonic() - started < 1.0
    assert answers == [False] * 11
    assert decision_counts(reader)[("parent", "pending", "fallback")] == 12

    scripted.gate.set()  # the provider answers again: first decisions are waited for again
    wait_until(lambda: predicate("a:b") is True)
    assert predicate("e:f") is True


def test_budget_zero_never_waits(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(first_decision_budget=0)

    assert predicate("a:b") is False  # pending: asked in the background only
    wait_until(lambda: predicate("a:b") is True)


def test_a_change_event_keeps_stale_while_refresh(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=3600, first_decision_budget=5.0)
    assert predicate("a:b") is True
    scripted.gate.clear()
    scripted.answers["a:b"] = False

    predicate.invalidate()  # what a CONFIGURATION_CHANGED event does
    started = time.monotonic()
    assert predicate("a:b") is True  # the last known decision, at once: no budget spent on known tasks
    assert time.monotonic() - started < 2.5
    scripted.gate.set()
    wait_until(lambda: predicate("a:b") is False)


def test_prefetch_makes_first_starts_cache_hits_with_a_remote_provider(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, reader: InMemoryMetricReader
) -> None:
    scripted.answers.update({"w:spawn": True, "w:child": False})
    install(scripted)
    predicate = make_predicate(first_decision_budget=0)  # no waiting at all: prefetch alone must do it

    assert predicate.prefetch(["w:spawn", "w:child", "w:spawn"], timeout=5.0) == 2
    assert predicate("w:spawn") is True
    assert predicate("w:child") is False
    assert scripted.calls_for("w:spawn") == 1
    counts = decision_counts(reader)
    assert set(counts) == {("link", "targeting_match", "cache"), ("parent", "targeting_match", "cache")}


def test_prefetch_with_an_in_process_provider_is_inline(make_predicate: Callable[..., FlagPredicate]) -> None:
    provider = ScriptedProvider({"w:spawn": True}, in_process=True)
    install(provider)
    predicate = make_predicate()

    assert predicate.prefetch(["w:spawn", "w:other"]) == 2  # no timeout needed: answered on this thread
    assert predicate("w:spawn") is True
    assert provider.calls_for("w:spawn") == 1


def test_prefetch_skips_what_is_cached_and_ignores_non_strings(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(first_decision_budget=5.0)
    assert predicate("a:b") is True

    assert predicate.prefetch(["a:b", 42, None], timeout=1.0) == 1  # type: ignore[list-item]
    assert scripted.calls_for("a:b") == 1


def test_prefetch_does_not_wait_for_a_stalled_provider_without_a_timeout(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    install(scripted)
    predicate = make_predicate()
    scripted.gate.clear()

    started = time.monotonic()
    assert predicate.prefetch([f"w:task-{index}" for index in range(50)]) == 0
    assert time.monotonic() - started < 2.5
    scripted.gate.set()
    wait_until(lambda: predicate.prefetch([f"w:task-{index}" for index in range(50)]) == 50)


@pytest.mark.parametrize("budget", [-1, float("nan"), float("inf"), True, "5"])
def test_rejects_a_bad_budget(budget: object) -> None:
    with pytest.raises(ValueError, match="first_decision_budget"):
        FlagPredicate(first_decision_budget=budget)  # type: ignore[arg-type]


def test_a_first_answer_that_is_an_error_counts_as_a_fallback(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, reader: InMemoryMetricReader
) -> None:
    install(scripted)
    scripted.failure = RuntimeError("flag backend down")
    predicate = make_predicate(first_decision_budget=5.0)

    assert predicate("a:b") is False
    assert decision_counts(reader) == {("parent", "error", "fallback"): 1}

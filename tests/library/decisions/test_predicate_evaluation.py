"""FlagPredicate.evaluate: the decision and what its feature_flag.evaluation event says, one cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hatchet_trace_flags import FlagPredicate, RulesProvider
from hatchet_trace_flags.contract import RuleSet
from tests.support.flags.flags import decision_counts, install
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")

FANOUT = RuleSet(patterns={"fanout-worker:*": "link"})


def test_a_cached_decision_keeps_its_evaluation_and_counts_as_a_cache_hit(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    install(RulesProvider(FANOUT, version="r7"))
    predicate = make_predicate(ttl=3600)

    first = predicate.evaluate("fanout-worker:process-item")
    again = predicate.evaluate("fanout-worker:process-item")

    assert again is first  # nothing is built on a cache hit
    assert first.use_links is predicate("fanout-worker:process-item") is True
    assert first.attributes["feature_flag.version"] == "r7"
    assert first.attributes["hatchet_trace_flags.decision.rule"] == "fanout-worker:*"
    counts = decision_counts(reader)
    assert counts[("link", "pattern", "evaluated")] == 1
    assert counts[("link", "pattern", "cache")] == 2


def test_a_change_of_rules_changes_the_version_the_event_names(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    provider = RulesProvider(FANOUT, version="r7")
    install(provider)
    predicate = make_predicate(ttl=3600)
    assert predicate.evaluate("fanout-worker:a").attributes["feature_flag.version"] == "r7"

    provider._replace_rules(FANOUT.with_settings(links_enabled=False), version="r8")

    wait_until(lambda: predicate.evaluate("fanout-worker:a").use_links is False)
    decided = predicate.evaluate("fanout-worker:a")
    assert decided.attributes["feature_flag.version"] == "r8"
    assert decided.attributes["feature_flag.result.reason"] == "disabled"

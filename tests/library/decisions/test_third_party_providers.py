"""FlagPredicate with providers we did not write: OpenFeature's InMemoryProvider and flagd in-process.

Neither carries our ``evaluates_in_process`` marker, so both go through the path any third-party provider
takes (LaunchDarkly, Unleash, GO Feature Flag): asked on a refresh thread, first decisions waited for within
the budget, or prefetched by the instrumentor when hatchet-sdk builds the worker's runner.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hatchet_sdk import ClientConfig, Hatchet
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import FlagPredicate, RuleSet, to_flagd
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY
from tests.support.flags.flags import decision_counts
from tests.support.waiting import wait_until
from tests.support.worker.app import App
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.worker import Worker

pytestmark = pytest.mark.usefixtures("clean_openfeature")

SPAWNER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LINKED_TASKS = {"fanout-worker:process-item", "fanout-worker:resize", "child:work"}


def linked_by_action_id(flag: InMemoryFlag[bool], context: EvaluationContext) -> FlagResolutionDetails[bool]:
    variant = "link" if context.targeting_key in LINKED_TASKS else "parent"
    return FlagResolutionDetails(flag.variants[variant], variant=variant, reason=Reason.TARGETING_MATCH)


def in_memory_provider() -> InMemoryProvider:
    flag = InMemoryFlag("parent", {"link": True, "parent": False}, context_evaluator=linked_by_action_id)
    return InMemoryProvider({DEFAULT_FLAG_KEY: flag})


@pytest.fixture
def flagd_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.flagd.json"
    path.write_text(json.dumps(to_flagd(RuleSet(patterns={"fanout-worker:*": "link"}))))
    return path


@pytest.fixture
def flagd(flagd_file: Path) -> Iterator[FlagdProvider]:
    provider = FlagdProvider(
        resolver_type=ResolverType.IN_PROCESS, offline_flag_source_path=str(flagd_file), deadline_ms=100
    )
    api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)
    yield provider
    api.clear_providers()


def test_in_memory_provider_first_decisions_are_its_answers(
    make_predicate: Callable[..., FlagPredicate], reader: InMemoryMetricReader
) -> None:
    api.set_provider_and_wait(in_memory_provider(), OPENFEATURE_DOMAIN)
    predicate = make_predicate(first_decision_budget=5.0)  # generous for CI; it answers in microseconds

    assert predicate("fanout-worker:process-item") is True
    assert predicate("fanout-worker:collect") is False
    assert decision_counts(reader) == {
        ("link", "targeting_match", "evaluated"): 1,
        ("parent", "targeting_match", "evaluated"): 1,
    }


def test_in_memory_provider_as_the_global_provider(make_predicate: Callable[..., FlagPredicate]) -> None:
    # How an application that already uses OpenFeature for other flags sets its provider.
    api.set_provider_and_wait(in_memory_provider())

    assert make_predicate(first_decision_budget=5.0)("fanout-worker:resize") is True


def test_flagd_in_process_reads_our_export_and_first_decisions_are_right(
    flagd: FlagdProvider, make_predicate: Callable[..., FlagPredicate]
) -> None:
    predicate = make_predicate(first_decision_budget=5.0)

    assert predicate("fanout-worker:process-item") is True
    assert predicate("billing:charge") is False


def test_a_flagd_file_edit_flips_a_task_through_flagds_own_change_event(
    flagd: FlagdProvider, flagd_file: Path, make_predicate: Callable[..., FlagPredicate]
) -> None:
    # The test's clock never moves, so the TTL cannot expire: only flagd's change event can flip it.
    predicate = make_predicate(ttl=3600, first_decision_budget=5.0)
    assert predicate("fanout-worker:process-item") is True

    edited = RuleSet(patterns={"fanout-worker:*": "link"}, tasks={"fanout-worker:process-item": "parent"})
    flagd_file.write_text(json.dumps(to_flagd(edited)))

    wait_until(lambda: predicate("fanout-worker:process-item") is False)
    assert predicate("fanout-worker:resize") is True


async def test_the_worker_prefetches_so_the_first_start_is_linked_without_waiting(
    hatchet: Hatchet,
    client_config: ClientConfig,
    app: App,
    instrument: InstrumentFactory,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    make_predicate: Callable[..., FlagPredicate],
    reader: InMemoryMetricReader,
) -> None:
    app.seen.tracer_provider = tracer_provider
    api.set_provider_and_wait(in_memory_provider(), OPENFEATURE_DOMAIN)
    # No first-decision budget: only the prefetch at worker start can make the first start right.
    predicate = make_predicate(first_decision_budget=0)
    instrument(predicate)

    assert predicate.cached("child:work") is None
    worker = Worker(hatchet, client_config, app)  # hatchet-sdk builds its Runner: the prefetch happens here
    try:
        wait_until(lambda: predicate.cached("child:work") is True)
        await worker.run("child:work", {"traceparent": SPAWNER})
    finally:
        await worker.close()

    (span,) = spans_named(exporter, "hatchet.start_step_run")
    assert span.parent is None
    assert [link.context.trace_id for link in span.links] == [int(SPAWNER.split("-")[1], 16)]
    assert decision_counts(reader).get(("link", "targeting_match", "cache")) == 1

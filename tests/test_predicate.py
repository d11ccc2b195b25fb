"""FlagPredicate against real OpenFeature providers: caching, flips, failures, threads, fork, metrics."""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openfeature import _event_support, api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hatchet_trace_flags import FlagPredicate, RulesProvider
from hatchet_trace_flags._predicate import DECISIONS_METRIC, OPENFEATURE_DOMAIN
from hatchet_trace_flags._rules import DEFAULT_FLAG_KEY, RuleSet

FANOUT = RuleSet(patterns={"fanout-worker:*": "link"}, tasks={"fanout-worker:collect": "parent"})


class Clock:
    """A monotonic clock the test moves by hand, so TTLs and timeouts need no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedProvider(AbstractProvider):
    """A real OpenFeature provider whose answers the test sets.

    Like a provider that does I/O unless ``in_process``; ``gate`` (set by default) lets a test hold
    evaluations, as a slow network would.
    """

    def __init__(self, answers: dict[str, bool] | None = None, *, in_process: bool = False) -> None:
        super().__init__()
        self.answers = dict(answers or {})
        self.evaluates_in_process = in_process
        self.contexts: list[EvaluationContext | None] = []
        self.gate = threading.Event()
        self.gate.set()
        self.failure: Exception | None = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="scripted")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        self.contexts.append(evaluation_context)
        self.gate.wait(10)
        if self.failure is not None:
            raise self.failure
        key = evaluation_context.targeting_key if evaluation_context else None
        if key not in self.answers:
            return FlagResolutionDetails(default_value, reason=Reason.DEFAULT)
        return FlagResolutionDetails(self.answers[key], reason=Reason.TARGETING_MATCH)

    def resolve_string_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[str]:
        raise NotImplementedError

    def resolve_integer_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[int]:
        raise NotImplementedError

    def resolve_float_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[float]:
        raise NotImplementedError

    def resolve_object_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[Any]:
        raise NotImplementedError

    def calls_for(self, action_id: str) -> int:
        return sum(1 for context in self.contexts if context and context.targeting_key == action_id)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False). Not a timing assertion:
    the timeout only bounds a failing test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def our_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("hatchet-trace-flags")]


@pytest.fixture(autouse=True)
def clean_openfeature() -> Iterator[None]:
    """Every test starts with no provider and must leave none of our threads behind."""
    api.clear_providers()
    before = set(our_threads())
    yield
    api.clear_providers()
    assert wait_until(lambda: not (set(our_threads()) - before)), our_threads()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    meter_provider = MeterProvider(metric_readers=[reader])
    yield meter_provider
    meter_provider.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_predicate(clock: Clock, meter_provider: MeterProvider) -> Iterator[Callable[..., FlagPredicate]]:
    """Builds predicates on the test's clock and meter provider; closes them all afterwards."""
    made: list[FlagPredicate] = []

    def make(**options: Any) -> FlagPredicate:
        options.setdefault("timer", clock)
        options.setdefault("meter_provider", meter_provider)
        predicate = FlagPredicate(**options)
        made.append(predicate)
        return predicate

    yield make
    for predicate in made:
        predicate.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider()
    yield provider
    provider.gate.set()  # release refresh threads still waiting in it


def install(provider: AbstractProvider, domain: str | None = OPENFEATURE_DOMAIN) -> None:
    api.set_provider_and_wait(provider, domain)


def decision_counts(reader: InMemoryMetricReader) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name != DECISIONS_METRIC:
                    continue
                for point in metric.data.data_points:
                    attributes = point.attributes or {}
                    key = (str(attributes["mode"]), str(attributes["reason"]), str(attributes["source"]))
                    counts[key] = int(point.value)  # type: ignore[union-attr]
    return counts


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

    assert wait_until(lambda: predicate("fanout-worker:process-item") is False)


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
    assert wait_until(lambda: scripted.calls_for("a:b") == 1)
    assert scripted.calls_for("a:b") == 1  # one refresh in flight per action_id, not one per call

    scripted.gate.set()
    assert wait_until(lambda: predicate("a:b") is True)
    assert decision_counts(reader)[("parent", "pending", "fallback")] >= 20


def test_expired_decision_is_served_while_refreshing(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider, clock: Clock
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=30, refresh_timeout=5)
    predicate("a:b")
    assert wait_until(lambda: predicate("a:b") is True)

    scripted.answers["a:b"] = False
    scripted.gate.clear()
    clock.advance(31)

    assert predicate("a:b") is True  # stale, while the refresh hangs
    scripted.gate.set()
    assert wait_until(lambda: predicate("a:b") is False)


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
    assert wait_until(lambda: scripted.calls_for("a:b") == 1)

    clock.advance(6)  # that refresh is now abandoned
    assert predicate("a:b") is False
    assert decision_counts(reader)[("parent", "timeout", "fallback")] == 1
    scripted.gate.set()  # both the abandoned refresh and its replacement answer now

    assert wait_until(lambda: scripted.calls_for("a:b") == 2)
    assert wait_until(lambda: predicate("a:b") is True)  # from the replacement, within its timeout


def test_refreshes_are_bounded(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    install(scripted)
    predicate = make_predicate(max_pending_refreshes=2, refresh_threads=1)
    scripted.gate.clear()

    for index in range(10):
        assert predicate(f"w:task-{index}") is False

    assert wait_until(lambda: len(scripted.contexts) == 1)
    scripted.gate.set()
    assert wait_until(lambda: len(scripted.contexts) == 2)
    assert len(scripted.contexts) == 2  # the eight others were skipped, not queued


def test_configuration_change_refreshes_known_decisions_of_a_remote_provider(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers["a:b"] = True
    install(scripted)
    predicate = make_predicate(ttl=3600)
    predicate("a:b")
    assert wait_until(lambda: predicate("a:b") is True)

    scripted.answers["a:b"] = False
    scripted.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=[DEFAULT_FLAG_KEY]))

    assert wait_until(lambda: predicate("a:b") is False)


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
    assert wait_until(lambda: all(predicate(a) is True for a in action_ids[:-1]))
    assert predicate("billing:charge") is False


def run_in_child(child: Callable[[], object]) -> object:
    """Run ``child`` in a real forked process; return what it returned (JSON) or fail with its error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reports through the pipe
        status = 1
        try:
            try:
                payload = {"result": child()}
            except BaseException as error:
                payload = {"error": repr(error)}
            os.write(write_end, json.dumps(payload).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], 30)
        if not ready:  # a deadlocked child: do not hang the suite
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not answer within 30 s (deadlock?)")
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    payload = json.loads(output)
    assert "error" not in payload, payload["error"]
    return payload["result"]


def test_after_fork_the_child_keeps_its_cache_and_sees_flips(
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    provider = RulesProvider(FANOUT)
    install(provider)
    predicate = make_predicate(ttl=3600)
    assert predicate("fanout-worker:a") is True
    # Make OpenFeature's event thread exist before the fork, as it does in any real worker.
    provider._replace_rules(FANOUT.with_task("fanout-worker:b", "parent"))
    assert wait_until(lambda: predicate("fanout-worker:b") is False)

    def child() -> list[bool]:
        cached = predicate("fanout-worker:a")
        provider._replace_rules(FANOUT.with_settings(links_enabled=False))
        flipped = wait_until(lambda: predicate("fanout-worker:a") is False)
        return [cached, flipped]

    assert run_in_child(child) == [True, True]
    assert predicate("fanout-worker:a") is True  # the child's flip stays in the child


def test_after_fork_the_child_refreshes_on_its_own_threads(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    scripted.answers.update({"a:b": True, "c:d": True})
    install(scripted)
    predicate = make_predicate()
    predicate("a:b")
    assert wait_until(lambda: predicate("a:b") is True)  # refresh threads now run in the parent

    def child() -> list[bool]:
        first = predicate("c:d")  # unknown: pending, refreshed in the background
        return [first, wait_until(lambda: predicate("c:d") is True)]

    assert run_in_child(child) == [False, True]


def test_close_stops_refresh_threads_and_is_idempotent(
    make_predicate: Callable[..., FlagPredicate], scripted: ScriptedProvider
) -> None:
    install(scripted)
    predicate = make_predicate()
    predicate("a:b")
    assert wait_until(lambda: any(t.name.startswith("hatchet-trace-flags-refresh") for t in our_threads()))

    predicate.close()
    predicate.close()

    assert wait_until(lambda: not our_threads())
    assert predicate("a:b") is False  # still answers


def test_a_forgotten_predicate_releases_its_threads_and_handlers(
    scripted: ScriptedProvider, meter_provider: MeterProvider
) -> None:
    install(scripted)
    client = api.get_client(OPENFEATURE_DOMAIN)
    predicate = FlagPredicate(client, meter_provider=meter_provider)
    predicate("a:b")
    assert wait_until(lambda: bool(our_threads()))

    del predicate
    gc.collect()

    assert wait_until(lambda: not our_threads())
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
    assert wait_until(lambda: client.get_provider_status().value == "READY")
    assert predicate("fanout-worker:a") is True

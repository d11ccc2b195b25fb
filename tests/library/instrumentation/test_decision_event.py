"""Every task start records its decision as a ``feature_flag.evaluation`` event, on the real worker path.

Real hatchet-sdk ``Runner`` starts (sync and async tasks, batch starts), real OpenFeature providers behind a
real ``FlagPredicate``, the real OTel SDK with an in-memory exporter: the tests read the event back from the
exported span.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import FlagPredicate, HatchetInstrumentor, RulesProvider
from hatchet_trace_flags._decisions.evaluation_event import EVALUATION_EVENT
from hatchet_trace_flags._instrumentation.batch import has_batch_tasks
from hatchet_trace_flags._triggers.relationship import with_relationship
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RuleSet
from tests.support.flags.flags import Clock, ScriptedProvider, install
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.traces import SPAWNER, only, step_span
from tests.support.worker.worker import Worker

if has_batch_tasks():
    from tests.support.worker.batch_worker import batch_action, run_batch

pytestmark = pytest.mark.usefixtures("clean_openfeature")

RULES = RuleSet(patterns={"child:*": "link"}, tasks={"async-child:work": "parent"})


def decision_of(span: ReadableSpan) -> dict[str, Any]:
    """The attributes of the span's one ``feature_flag.evaluation`` event."""
    [event] = [event for event in span.events if event.name == EVALUATION_EVENT]
    return dict(event.attributes or {})


def events_named(exporter: InMemorySpanExporter, name: str) -> list[Any]:
    return [event for span in exporter.get_finished_spans() for event in span.events if event.name == name]


@pytest.mark.parametrize(
    ("action_id", "variant", "ours", "rule"),
    [
        ("child:work", "link", "pattern", "child:*"),  # a sync task, decided by a pattern
        ("async-child:work", "parent", "exact", "async-child:work"),  # an async task, by its own rule
    ],
    ids=["sync-link", "async-parent"],
)
async def test_a_rules_decision_is_recorded_with_the_conventions_attributes(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
    action_id: str,
    variant: str,
    ours: str,
    rule: str,
) -> None:
    provider = RulesProvider(RULES)
    install(provider)
    instrument(make_predicate())

    await worker.run(action_id, {"traceparent": SPAWNER})

    span = step_span(exporter, action_id)
    assert (span.parent is None) is (variant == "link")
    assert decision_of(span) == {
        "feature_flag.key": DEFAULT_FLAG_KEY,
        "feature_flag.result.variant": variant,
        "feature_flag.result.reason": "targeting_match",
        "feature_flag.provider.name": "hatchet-trace-flags rules",
        "feature_flag.version": provider.version,
        "feature_flag.context.id": action_id,
        "hatchet_trace_flags.decision.reason": ours,
        "hatchet_trace_flags.decision.rule": rule,
    }


async def test_the_kill_switch_is_recorded_as_disabled(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    install(RulesProvider(RULES.with_settings(links_enabled=False)))
    instrument(make_predicate())

    await worker.run("child:work", {"traceparent": SPAWNER})

    decision = decision_of(step_span(exporter, "child:work"))
    assert decision["feature_flag.result.variant"] == "parent"
    assert decision["feature_flag.result.reason"] == "disabled"
    assert decision["hatchet_trace_flags.decision.reason"] == "disabled"


async def test_a_per_run_override_is_recorded_as_static_without_a_provider(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    install(RulesProvider(RuleSet()))  # parent for everything: the override alone makes it a link
    instrument(make_predicate())

    await worker.run("child:work", with_relationship({"traceparent": SPAWNER}, "link"))

    span = step_span(exporter, "child:work")
    assert span.parent is None
    assert decision_of(span) == {
        "feature_flag.key": DEFAULT_FLAG_KEY,
        "feature_flag.result.variant": "link",
        "feature_flag.result.reason": "static",
        "feature_flag.context.id": "child:work",
        "hatchet_trace_flags.decision.reason": "override",
    }


async def test_a_stalled_provider_is_recorded_as_stale_with_the_last_answer(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
    scripted: ScriptedProvider,
    clock: Clock,
) -> None:
    scripted.answers["child:work"] = True
    install(scripted)
    predicate = make_predicate(ttl=30, refresh_timeout=60)
    assert predicate.prefetch(["child:work"], timeout=5) == 1
    instrument(predicate)
    await worker.run("child:work", {"traceparent": SPAWNER})

    scripted.gate.clear()  # the provider hangs from now on
    clock.advance(31)  # the cached decision expires: the next start is served the last answer
    await worker.run("child:work", {"traceparent": SPAWNER})

    fresh, stale = (dict(event.attributes) for event in events_named(exporter, EVALUATION_EVENT))
    assert fresh["feature_flag.result.reason"] == "targeting_match"
    assert stale == {
        **fresh,
        "feature_flag.result.reason": "stale",
        "hatchet_trace_flags.decision.reason": "stale",
    }
    assert stale["feature_flag.result.variant"] == "link"
    assert stale["feature_flag.provider.name"] == "scripted"


async def test_a_provider_that_has_not_answered_yet_is_recorded_as_default(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
    scripted: ScriptedProvider,
) -> None:
    scripted.answers["child:work"] = True
    install(scripted)
    scripted.gate.clear()
    instrument(make_predicate(first_decision_budget=0))

    await worker.run("child:work", {"traceparent": SPAWNER})

    decision = decision_of(step_span(exporter, "child:work"))
    assert decision["feature_flag.result.variant"] == "parent"
    assert decision["feature_flag.result.reason"] == "default"
    assert decision["hatchet_trace_flags.decision.reason"] == "pending"


async def test_a_failing_provider_is_recorded_as_an_error_with_its_type(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    install(RulesProvider(RULES, flag_key="another.flag"))  # our flag is not found there
    instrument(make_predicate())

    await worker.run("child:work", {"traceparent": SPAWNER})

    decision = decision_of(step_span(exporter, "child:work"))
    assert decision["feature_flag.result.reason"] == "error"
    assert decision["error.type"] == "flag_not_found"
    assert decision["feature_flag.result.variant"] == "parent"


@pytest.mark.parametrize(
    ("predicate", "variant", "reason", "ours", "error_type"),
    [
        (lambda action_id: True, "link", "unknown", "callable", None),
        (lambda action_id: 1 / 0, "parent", "error", "predicate_error", "general"),
        (lambda action_id: "yes", "parent", "error", "predicate_error", "type_mismatch"),
    ],
    ids=["plain-callable", "raises", "not-a-bool"],
)
async def test_a_plain_callable_is_recorded_as_no_flag(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    predicate: Callable[[str], object],
    variant: str,
    reason: str,
    ours: str,
    error_type: str | None,
) -> None:
    instrument(predicate)

    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        await worker.run("async-child:work", {"traceparent": SPAWNER})
        await worker.run("async-child:work", {"traceparent": SPAWNER})

    first, second = (dict(event.attributes) for event in events_named(exporter, EVALUATION_EVENT))
    assert first == second
    assert first["feature_flag.key"] == DEFAULT_FLAG_KEY
    assert first["feature_flag.result.variant"] == variant
    assert first["feature_flag.result.reason"] == reason
    assert first["hatchet_trace_flags.decision.reason"] == ours
    assert first.get("error.type") == error_type
    assert "feature_flag.provider.name" not in first
    assert len(caplog.records) == (0 if error_type is None else 1)  # still one warning per task


@pytest.mark.parametrize("switch", ["argument", "environment"])
async def test_the_switch_turns_the_event_off(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    switch: str,
) -> None:
    if switch == "argument":
        instrument(lambda action_id: True, decision_events=False)
    else:
        monkeypatch.setenv("HATCHET_TRACE_FLAGS_DECISION_EVENTS", "false")
        instrument(lambda action_id: True)

    await worker.run("child:work", {"traceparent": SPAWNER})

    span = step_span(exporter, "child:work")
    assert span.parent is None  # still decided: link mode
    assert span.events == ()


async def test_no_predicate_and_no_override_records_nothing(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(None)

    await worker.run("child:work", {"traceparent": SPAWNER})
    await worker.run("async-child:work", with_relationship({"traceparent": SPAWNER}, "parent"))

    assert step_span(exporter, "child:work").events == ()  # exactly hatchet-sdk's span
    assert decision_of(step_span(exporter, "async-child:work"))["hatchet_trace_flags.decision.reason"] == (
        "override"
    )


@pytest.mark.skipif(not has_batch_tasks(), reason="hatchet-sdk < 1.37 has no batch tasks")
async def test_a_batch_start_records_its_decision(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    make_predicate: Callable[..., FlagPredicate],
) -> None:
    install(RulesProvider(RuleSet(tasks={"batch:collect": "link"})))
    instrument(make_predicate())

    await run_batch(worker, batch_action("batch:collect", 2, {"traceparent": SPAWNER}))

    decision = decision_of(only(spans_named(exporter, "hatchet.start_batch")))
    assert decision["feature_flag.result.variant"] == "link"
    assert decision["hatchet_trace_flags.decision.reason"] == "exact"


def test_a_predicate_that_is_not_callable_fails_at_construction(
    instrument: InstrumentFactory, make_predicate: Callable[..., FlagPredicate]
) -> None:
    with pytest.raises(TypeError, match="use_links_instead_of_parent must be a callable"):
        HatchetInstrumentor(use_links_instead_of_parent=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str: 'child:\\*'"):
        HatchetInstrumentor(use_links_instead_of_parent="child:*")  # type: ignore[arg-type]

    predicate = make_predicate()
    instrumentor = instrument(predicate)
    with pytest.raises(TypeError):
        instrumentor.use_links_instead_of_parent = 1  # type: ignore[assignment]
    assert instrumentor.use_links_instead_of_parent is predicate  # the refused one replaced nothing

"""A hatchet-sdk whose wrapped methods we do not know: stock spans and one warning, never a broken worker.

A newer hatchet-sdk is simulated by replacing a hatchet-sdk method (or a stock wrapper) for one test.
"""

from __future__ import annotations

import logging

import pytest
from hatchet_sdk.clients.admin import AdminClient
from hatchet_sdk.context.context import DurableContext
from hatchet_sdk.opentelemetry.instrumentor import HatchetInstrumentor as StockInstrumentor
from hatchet_sdk.runnables.action import Action
from hatchet_sdk.worker.runner.runner import Runner
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags._instrumentation.compat import difference
from hatchet_trace_flags._instrumentation.instrumentor import _TARGETS
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.worker import Worker

SPAWNER_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAWNER_SPAN_ID = 0x00F067AA0BA902B7
SPAWNER = f"00-{SPAWNER_TRACE_ID:032x}-{SPAWNER_SPAN_ID:016x}-01"


def link_everything(action_id: str) -> bool:
    return True


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "hatchet_trace_flags" and record.levelno >= logging.WARNING
    ]


def the_step_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = spans_named(exporter, "hatchet.start_step_run")
    return span


async def test_the_installed_hatchet_sdk_passes_the_check_and_gets_our_spans(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert {difference(owner, name, wrapper) for owner, name, wrapper, _ in _TARGETS} == {None}
    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        instrument(link_everything)

    await worker.run("child:work", {"traceparent": SPAWNER})

    assert warnings_in(caplog) == []
    span = the_step_span(exporter)
    assert span.parent is None
    [link] = span.links
    assert (link.context.trace_id, link.context.span_id) == (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)


async def test_a_changed_step_run_signature_gets_stock_spans_and_one_warning(
    monkeypatch: pytest.MonkeyPatch,
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = Runner.handle_start_step_run

    async def newer(self: Runner, action: Action, lease: str | None = None) -> Exception | None:
        return await original(self, action)

    monkeypatch.setattr(Runner, "handle_start_step_run", newer)
    run_workflow = vars(AdminClient)["run_workflow"]
    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        instrumentor = instrument(link_everything)

    await worker.run("child:work", {"traceparent": SPAWNER})

    # hatchet-sdk's own span: the spawner stays the parent although the predicate asks for a link.
    span = the_step_span(exporter)
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)
    assert span.links == ()
    [warning] = warnings_in(caplog)
    assert "Runner.handle_start_step_run takes (self, action, lease), supported is (self, action)" in warning
    assert "stock spans" in warning
    # The methods that did not change are still ours, and uninstrument() takes off exactly what it put on.
    assert vars(AdminClient)["run_workflow"] is not run_workflow
    instrumentor.uninstrument()
    assert vars(Runner)["handle_start_step_run"] is newer
    assert vars(AdminClient)["run_workflow"] is run_workflow


async def test_a_missing_stock_wrapper_leaves_its_methods_as_hatchet_sdk_has_them(
    monkeypatch: pytest.MonkeyPatch,
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delattr(StockInstrumentor, "_wrap_handle_cancel_action")
    monkeypatch.delattr(StockInstrumentor, "_wrap_push_event")
    cancel = vars(Runner)["handle_cancel_action"]
    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        instrument(link_everything)

    await worker.run("child:work", {"traceparent": SPAWNER})

    [warning] = warnings_in(caplog)  # one warning naming both
    assert "HatchetInstrumentor has no _wrap_handle_cancel_action" in warning
    assert "HatchetInstrumentor has no _wrap_push_event" in warning
    assert vars(Runner)["handle_cancel_action"] is cancel
    assert the_step_span(exporter).links != ()  # the rest is instrumented as usual


def test_a_missing_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(DurableContext, "_spawn_children_no_wait")

    found = difference(DurableContext, "_spawn_children_no_wait", "_wrap_spawn_children_no_wait")

    assert found == "DurableContext._spawn_children_no_wait is missing"

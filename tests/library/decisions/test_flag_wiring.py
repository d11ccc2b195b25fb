"""Flags to spans: a rules file, the default wiring and the instrumentor on the real worker path."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openfeature import api
from openfeature.event import EventDetails, ProviderEvent
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import FlagPredicate, predicate_from_env
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from tests.support.waiting import until
from tests.support.worker.fixtures import InstrumentFactory
from tests.support.worker.traces import SPAWNER, SPAWNER_SPAN_ID, step_span
from tests.support.worker.worker import Worker


def write_rules(path: Path, tasks: dict[str, str]) -> None:
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps({"version": 1, "tasks": tasks}))
    staged.replace(path)


async def wait_until(predicate: FlagPredicate, action_id: str, expected: bool) -> None:
    await until(lambda: predicate(action_id) is expected, what=f"{action_id} becomes {expected}")


@pytest.fixture
def from_env(tmp_path: Path) -> Iterator[tuple[Path, FlagPredicate]]:
    rules = tmp_path / "trace-flags.json"
    write_rules(rules, {})
    predicate = predicate_from_env({"HATCHET_TRACE_FLAGS_RULES_FILE": str(rules)})
    assert predicate is not None
    yield rules, predicate
    predicate.close()
    api.clear_providers()


async def test_a_file_edit_flips_a_task_between_two_runs(
    from_env: tuple[Path, FlagPredicate],
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
) -> None:
    rules, predicate = from_env
    instrument(predicate)

    await worker.run("child:work", {"traceparent": SPAWNER})
    before = step_span(exporter, "child:work")
    write_rules(rules, {"child:work": "link"})
    await wait_until(predicate, "child:work", True)
    exporter.clear()
    await worker.run("child:work", {"traceparent": SPAWNER})
    after = step_span(exporter, "child:work")

    assert before.parent is not None
    assert before.parent.span_id == SPAWNER_SPAN_ID
    assert after.parent is None
    assert [link.context.span_id for link in after.links] == [SPAWNER_SPAN_ID]


async def test_a_broken_file_keeps_the_last_good_rules(
    from_env: tuple[Path, FlagPredicate],
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
) -> None:
    rules, predicate = from_env
    instrument(predicate)
    write_rules(rules, {"child:work": "link"})
    await wait_until(predicate, "child:work", True)
    # The provider's own word that it read the broken file and refused it (reported after two polls
    # that saw it), rather than a guess at how long that takes.
    refused = threading.Event()

    def on_error(details: EventDetails) -> None:
        refused.set()

    api.get_client(OPENFEATURE_DOMAIN).add_handler(ProviderEvent.PROVIDER_ERROR, on_error)

    rules.write_text('{"version": 1, "tasks": {"child:work": "lnk"')  # truncated and invalid
    await until(refused.is_set, what="the provider reports the broken file")
    await worker.run("child:work", {"traceparent": SPAWNER})

    assert step_span(exporter, "child:work").parent is None


def test_no_configuration_means_no_predicate_and_stock_behaviour() -> None:
    assert predicate_from_env({}) is None

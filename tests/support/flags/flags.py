"""Shared helpers for the flag tests: a scripted OpenFeature provider, a hand-moved clock, waiting, fork."""

from __future__ import annotations

import json
import os
import select
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hatchet_trace_flags._decisions.decision_metrics import DECISIONS_METRIC
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN


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


def our_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("hatchet-trace-flags")]


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

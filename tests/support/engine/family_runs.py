"""Plays the engine's dispatcher for a family of runs: every run the stand-in engine recorded a trigger for is
handed to the worker, in order, with the engine collector writing the engine's own spans for it first."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hatchet_sdk.runnables.action import Action, ActionPayload, ActionType
from opentelemetry.sdk.trace import ReadableSpan

from tests.support.engine.engine_collector import EngineCollector
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.worker import Worker


def engine_action(action_id: str, metadata: dict[str, Any]) -> Action:
    """A START_STEP_RUN action with the UUIDs the engine uses (its collector parses step run ids as UUIDs)."""
    return Action(
        worker_id=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        workflow_run_id=str(uuid.uuid4()),
        job_id=str(uuid.uuid4()),
        job_name=action_id.split(":", 1)[0],
        job_run_id=str(uuid.uuid4()),
        step_id=str(uuid.uuid4()),
        step_run_id=str(uuid.uuid4()),
        action_id=action_id,
        action_type=ActionType.START_STEP_RUN,
        retry_count=0,
        action_payload=ActionPayload(input={}),
        additional_metadata=metadata,
    )


@dataclass
class DispatchedRun:
    action: Action
    metadata: dict[str, Any]


async def dispatch_all(
    worker: Worker, engine: RecordingEngine, task_names: Mapping[str, str] | None = None, limit: int = 100
) -> list[DispatchedRun]:
    """Runs every recorded trigger (and those the runs add) on ``worker``, up to ``limit`` runs; the runs, in
    dispatch order. A workflow's task is ``work`` unless ``task_names`` names another."""
    runs: list[DispatchedRun] = []
    while len(runs) < min(len(engine.triggers), limit):
        trigger = engine.triggers[len(runs)]
        task_name = (task_names or {}).get(trigger.workflow_name, "work")
        action = engine_action(f"{trigger.workflow_name}:{task_name}", dict(trigger.additional_metadata))
        engine.collector.dispatch(action.step_run_id, action.workflow_run_id, action.additional_metadata)
        runs.append(DispatchedRun(action, dict(trigger.additional_metadata)))
        error = await worker.runner.handle_start_step_run(action)
        if error is not None:
            raise error
    return runs


def view_problems(
    collector: EngineCollector,
    run: DispatchedRun,
    user_spans: tuple[ReadableSpan, ...],
    family_trace: int,
    root: str = "client.request",
) -> list[str]:
    """Why Hatchet's view of ``run`` is not one tree in the family's trace holding all of its worker spans
    (``user_spans``: what the user's exporter got)."""
    view = collector.view(run.action.step_run_id)
    problems = []
    if view.trace_id != family_trace:
        problems.append("filed apart from its family")
    if [span.name for span in view.roots()] != [root]:
        problems.append(f"roots {[span.name for span in view.roots()]}")
    if view.orphans():
        problems.append(f"orphans {[span.name for span in view.orphans()]}")
    if view.bare_start_spans():
        problems.append("a bare start span")
    worker_span_ids = {
        span.context.span_id
        for span in user_spans
        if span.context is not None
        and (span.attributes or {}).get("hatchet.step_run_id") == run.action.step_run_id
    }
    if len(worker_span_ids) < 2:
        problems.append("fewer than two worker spans: the start span and one inside the run")
    if not worker_span_ids <= set(view.spans):
        problems.append("worker spans missing")
    if {span.trace_id for span in collector.worker_spans(run.action.step_run_id)} != {view.trace_id}:
        problems.append("worker spans sent in another trace")
    return problems

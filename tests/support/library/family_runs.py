"""Plays the engine's dispatcher for a family of runs: every run the stand-in engine recorded a trigger for is
handed to the worker, in order, with the engine collector writing the engine's own spans for it first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hatchet_sdk.runnables.action import Action, ActionPayload, ActionType

from tests.support.library.hatchet_engine import RecordingEngine
from tests.support.library.worker import Worker


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
    worker: Worker, engine: RecordingEngine, task_name: str = "work"
) -> list[DispatchedRun]:
    """Runs every recorded trigger (and those the runs add) on ``worker``; the runs, in dispatch order."""
    runs: list[DispatchedRun] = []
    while len(runs) < len(engine.triggers):
        trigger = engine.triggers[len(runs)]
        action = engine_action(f"{trigger.workflow_name}:{task_name}", dict(trigger.additional_metadata))
        engine.collector.dispatch(action.step_run_id, action.workflow_run_id, action.additional_metadata)
        runs.append(DispatchedRun(action, dict(trigger.additional_metadata)))
        error = await worker.runner.handle_start_step_run(action)
        if error is not None:
            raise error
    return runs

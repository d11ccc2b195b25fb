"""Drives the real hatchet-sdk worker path: `Runner.handle_start_step_run` with real `Action`s.

A `Runner` builds offline (its gRPC channels connect lazily). Its event queue is an in-process `queue.Queue`
that just collects the events a real worker would send to the engine: a worker's `multiprocessing.Queue` is
drained by its listener process, and one that nobody drains keeps the interpreter from exiting once its pipe
is full.
"""

from __future__ import annotations

import itertools
from queue import Queue
from typing import Any

from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.runnables.action import Action, ActionPayload, ActionType
from hatchet_sdk.worker.runner.runner import Runner
from hatchet_sdk.worker.runner.utils.capture_logs import AsyncLogSender

from tests.support.worker.app import App
from tests.support.worker.durable import RecordingDurableListener

_ids = itertools.count(1)
DURABLE_ENGINE_VERSION = "v0.80.0"


def start_action(action_id: str, metadata: dict[str, Any] | None = None) -> Action:
    n = next(_ids)
    return Action(
        worker_id="worker-1",
        tenant_id="tenant-1",
        workflow_run_id=f"workflow-run-{n}",
        job_id=f"job-{n}",
        job_name=action_id.split(":", 1)[0],
        job_run_id=f"job-run-{n}",
        step_id=f"step-{n}",
        step_run_id=f"step-run-{n}",
        action_id=action_id,
        action_type=ActionType.START_STEP_RUN,
        retry_count=0,
        action_payload=ActionPayload(input={}),
        additional_metadata=metadata or {},
    )


class Worker:
    def __init__(self, hatchet: Hatchet, config: ClientConfig, app: App) -> None:
        registry = {
            workflow._create_action_name(task): task
            for workflow in app.workflows()
            for task in workflow.tasks
        }
        self.runner = Runner(
            event_queue=Queue(),
            config=config,
            slots=4,
            durable_slots=4,
            handle_kill=False,
            action_registry=registry,
            labels=[],
            lifespan_context=None,
            log_sender=AsyncLogSender(hatchet.event),
            engine_version=DURABLE_ENGINE_VERSION,
        )
        self.durable_listener = RecordingDurableListener(config, admin_client=self.runner.admin_client)
        self.runner.durable_event_listener = self.durable_listener

    async def run(self, action_id: str, metadata: dict[str, Any] | None = None) -> Action:
        action = start_action(action_id, metadata)
        error = await self.runner.handle_start_step_run(action)
        if error is not None:
            raise error
        return action

    async def close(self) -> None:
        await self.durable_listener.stop()
        self.runner.thread_pool.shutdown(wait=True)

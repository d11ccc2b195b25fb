"""Drives the real hatchet-sdk worker path: `Runner.handle_start_step_run` with real `Action`s.

A `Runner` builds offline (its gRPC channels connect lazily). Its event queue is an in-process `queue.Queue`
that just collects the events a real worker would send to the engine: a worker's `multiprocessing.Queue` is
drained by its listener process, and one that nobody drains keeps the interpreter from exiting once its pipe
is full.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from queue import Queue
from typing import Any

from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.runnables.action import (
    Action,
    ActionPayload,
    ActionType,
    BatchItemData,
    BatchStartPayload,
)
from hatchet_sdk.runnables.types import BatchMemberId
from hatchet_sdk.worker.action_listener_process import QueuedBatchActionEvent
from hatchet_sdk.worker.runner.runner import Runner
from hatchet_sdk.worker.runner.utils.capture_logs import AsyncLogSender

from tests.app import App
from tests.durable import RecordingDurableListener

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


def batch_action(action_id: str, size: int, metadata: dict[str, Any] | None = None) -> Action:
    """A START_BATCH action as hatchet-sdk's listener builds it: per-run ids empty, one item per task run."""
    n = next(_ids)
    return Action(
        worker_id="worker-1",
        tenant_id="tenant-1",
        workflow_run_id="",
        job_id="",
        job_name="",
        job_run_id="",
        step_id="",
        step_run_id="",
        action_id=action_id,
        action_type=ActionType.START_BATCH,
        retry_count=0,
        action_payload=ActionPayload(),
        additional_metadata=metadata or {},
        batch_id=f"batch-{n}",
        batch_start=BatchStartPayload(
            expected_size=size, trigger_reason="batch_max_size", trigger_time=datetime.now(UTC)
        ),
        batch_items={
            BatchMemberId(f"task-run-{n}-{i}"): BatchItemData(
                payload=ActionPayload(input={}), workflow_run_id=f"workflow-run-{n}-{i}"
            )
            for i in range(size)
        },
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

    async def run_batch(self, action: Action) -> list[QueuedBatchActionEvent]:
        """Runs a START_BATCH action; returns the batch events it queued (failures are reported there)."""
        await self.runner.handle_start_batch(action)
        events: list[QueuedBatchActionEvent] = []
        while not self.runner.event_queue.empty():
            event = self.runner.event_queue.get_nowait()
            if isinstance(event, QueuedBatchActionEvent) and event.action is action:
                events.append(event)
        return events

    async def close(self) -> None:
        await self.durable_listener.stop()
        self.runner.thread_pool.shutdown(wait=True)

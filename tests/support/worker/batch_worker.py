"""Batch starts on the real worker path: `START_BATCH` actions for `Runner.handle_start_batch`.

Import it only where `has_batch_tasks()`: hatchet-sdk < 1.37 has none of these types.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from hatchet_sdk.runnables.action import (
    Action,
    ActionPayload,
    ActionType,
    BatchItemData,
    BatchStartPayload,
)
from hatchet_sdk.runnables.types import BatchMemberId
from hatchet_sdk.worker.action_listener_process import QueuedBatchActionEvent

from tests.support.worker.worker import Worker

_ids = itertools.count(1)


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


async def run_batch(worker: Worker, action: Action) -> list[QueuedBatchActionEvent]:
    """Runs a START_BATCH action; returns the batch events it queued (failures are reported there)."""
    await worker.runner.handle_start_batch(action)
    events: list[QueuedBatchActionEvent] = []
    while not worker.runner.event_queue.empty():
        event = worker.runner.event_queue.get_nowait()
        if isinstance(event, QueuedBatchActionEvent) and event.action is action:
            events.append(event)
    return events

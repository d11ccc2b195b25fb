"""A durable-task listener that records what a durable task sends instead of streaming it to an engine.

`DurableContext` talks to the engine over a bidirectional gRPC stream that only a real engine can answer; this
subclass stands in at exactly that boundary, so the instrumented `DurableContext` methods run unchanged.
"""

from __future__ import annotations

from typing import Any

from hatchet_sdk.clients.listeners.durable_event_listener import (
    DurableEventListener,
    DurableTaskEventRunAck,
    DurableTaskRunAckEntry,
    RunChildrenEvent,
)


class EngineUnavailableError(RuntimeError):
    pass


class RecordingDurableListener(DurableEventListener):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Any] = []

    async def ensure_started(self, worker_id: str) -> None:
        return None

    async def send_event(self, durable_task_external_id: str, invocation_count: int, event: Any) -> Any:
        self.sent.append(event)
        if isinstance(event, RunChildrenEvent):
            return DurableTaskEventRunAck(
                invocation_count=invocation_count,
                durable_task_external_id=durable_task_external_id,
                run_entries=[
                    DurableTaskRunAckEntry(node_id=i, branch_id=0, workflow_run_external_id=f"child-{i}")
                    for i, _ in enumerate(event.children)
                ],
            )
        raise EngineUnavailableError("waits need a real engine")

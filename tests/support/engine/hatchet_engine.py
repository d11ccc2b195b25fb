"""A stand-in Hatchet engine: a real gRPC server on 127.0.0.1 that records what the SDK sends.

No Hatchet engine can run on the test machines, but the SDK's own client code (request building, metadata
serialisation, gRPC calls) should still run for real, so tests assert on what actually went over the wire.
It also serves the engine's OTLP collector (``engine_collector``), where hatchet-sdk's engine exporter sends
the worker's spans.
"""

from __future__ import annotations

import base64
import json
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from hatchet_sdk.contracts import events_pb2, events_pb2_grpc, workflows_pb2, workflows_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.support.engine.engine_collector import EngineCollector


def fake_token(grpc_address: str) -> str:
    """A JWT-shaped token that ClientConfig accepts; nothing ever verifies its signature."""

    def part(payload: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()

    claims = {
        "sub": "00000000-0000-0000-0000-000000000001",
        "server_url": "http://127.0.0.1:1",
        "grpc_broadcast_address": grpc_address,
    }
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{part({'sig': 'none'})}"


@dataclass
class Trigger:
    workflow_name: str
    additional_metadata: dict[str, Any]


@dataclass
class RecordingEngine:
    triggers: list[Trigger] = field(default_factory=list)
    events: list[Trigger] = field(default_factory=list)
    schedules: list[Trigger] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    collector: EngineCollector = field(default_factory=EngineCollector)

    def record_trigger(self, request: workflows_pb2.TriggerWorkflowRequest) -> str:
        metadata = json.loads(request.additional_metadata) if request.additional_metadata else {}
        with self.lock:
            self.triggers.append(Trigger(request.name, metadata))
            return f"run-{len(self.triggers)}"

    def record_schedule(
        self, request: workflows_pb2.ScheduleWorkflowRequest
    ) -> workflows_pb2.WorkflowVersion:
        """Like the engine: one scheduled run per requested time, answered with the schedules it created."""
        metadata = json.loads(request.additional_metadata) if request.additional_metadata else {}
        created = []
        with self.lock:
            for trigger_at in request.schedules:
                self.schedules.append(Trigger(request.name, metadata))
                created.append(
                    workflows_pb2.ScheduledWorkflow(
                        id=f"schedule-{len(self.schedules)}", trigger_at=trigger_at
                    )
                )
        return workflows_pb2.WorkflowVersion(
            id="version-1", workflow_id="workflow-1", scheduled_workflows=created
        )

    def record_event(self, request: events_pb2.PushEventRequest) -> events_pb2.Event:
        metadata = json.loads(request.additional_metadata) if request.additional_metadata else {}
        with self.lock:
            self.events.append(Trigger(request.key, metadata))
            event_id = f"event-{len(self.events)}"
        return events_pb2.Event(
            tenant_id="tenant",
            event_id=event_id,
            key=request.key,
            payload=request.payload,
            event_timestamp=timestamp_pb2.Timestamp(seconds=1),
            additional_metadata=request.additional_metadata,
        )


class _WorkflowService(workflows_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, engine: RecordingEngine) -> None:
        self.engine = engine

    def TriggerWorkflow(self, request: Any, context: Any) -> Any:
        return workflows_pb2.TriggerWorkflowResponse(workflow_run_id=self.engine.record_trigger(request))

    def ScheduleWorkflow(self, request: Any, context: Any) -> Any:
        return self.engine.record_schedule(request)

    def BulkTriggerWorkflow(self, request: Any, context: Any) -> Any:
        ids = [self.engine.record_trigger(item) for item in request.workflows]
        return workflows_pb2.BulkTriggerWorkflowResponse(workflow_run_ids=ids)


class _EventsService(events_pb2_grpc.EventsServiceServicer):
    def __init__(self, engine: RecordingEngine) -> None:
        self.engine = engine

    def Push(self, request: Any, context: Any) -> Any:
        return self.engine.record_event(request)

    def BulkPush(self, request: Any, context: Any) -> Any:
        return events_pb2.Events(events=[self.engine.record_event(item) for item in request.events])


def start_engine() -> tuple[grpc.Server, RecordingEngine, str]:
    engine = RecordingEngine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    workflows_pb2_grpc.add_WorkflowServiceServicer_to_server(_WorkflowService(engine), server)
    events_pb2_grpc.add_EventsServiceServicer_to_server(_EventsService(engine), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(engine.collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, engine, f"127.0.0.1:{port}"

"""Fan-out, traced two ways: every child as a span of the parent's trace, or as its own trace with a link.

No Hatchet engine needed. The parent task and its children run on hatchet-sdk's real worker code path
(`Runner.handle_start_step_run` with real `Action`s); a small in-process stand-in for the engine records each
trigger (with the traceparent the instrumentor injected) and hands the child runs to the worker later, spread
out the way a rate limit or a busy queue would.

    python examples/fanout.py [--children 200] [--spread 1.5]

Parent mode is hatchet-sdk's behaviour today: the parent's trace stays open until the slowest child ends.
Link mode (the task `fanout-worker:process-item` switched to links through a feature flag) closes the parent's
trace when its spawn loop ends, and each child is a trace of its own with one link back to the spawning span.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import Queue
from typing import Any

from hatchet_sdk import ClientConfig, Context, EmptyModel, Hatchet
from hatchet_sdk.config import ClientTLSConfig
from hatchet_sdk.contracts import workflows_pb2
from hatchet_sdk.runnables.action import Action, ActionPayload, ActionType
from hatchet_sdk.worker.runner.runner import Runner
from hatchet_sdk.worker.runner.utils.capture_logs import AsyncLogSender
from openfeature import api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import FlagPredicate, HatchetInstrumentor, LocalProvider, RuleSet

CHILD_ACTION = "fanout-worker:process-item"
PARENT_ACTION = "fanout-parent:spawn"
FLAGS_DOMAIN = "hatchet-trace-flags"


def offline_token() -> str:
    """A JWT-shaped token: hatchet-sdk's ClientConfig insists on one, nothing here verifies it."""

    def part(payload: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()

    claims = {
        "sub": "demo-tenant",
        "server_url": "http://127.0.0.1:1",
        "grpc_broadcast_address": "127.0.0.1:1",
    }
    return f"{part({'alg': 'none'})}.{part(claims)}.{part({})}"


class InProcessEngine:
    """Takes the place of the engine's gRPC stub: records every triggered run and its metadata."""

    def __init__(self) -> None:
        self.triggered: list[tuple[str, dict[str, Any]]] = []

    def TriggerWorkflow(self, request: Any, **kwargs: Any) -> Any:
        self.triggered.append((request.name, json.loads(request.additional_metadata or "{}")))
        return workflows_pb2.TriggerWorkflowResponse(workflow_run_id=f"run-{len(self.triggered)}")


def action(action_id: str, number: int, metadata: dict[str, Any]) -> Action:
    return Action(
        worker_id="demo-worker",
        tenant_id="demo-tenant",
        workflow_run_id=f"workflow-run-{number}",
        job_id=f"job-{number}",
        job_name=action_id.split(":", 1)[0],
        job_run_id=f"job-run-{number}",
        step_id=f"step-{number}",
        step_run_id=f"step-run-{number}",
        action_id=action_id,
        action_type=ActionType.START_STEP_RUN,
        retry_count=0,
        action_payload=ActionPayload(input={}),
        additional_metadata=metadata,
    )


async def run_fan_out(
    children: int, spread: float, use_links_instead_of_parent: Callable[[str], bool] | None
) -> list[ReadableSpan]:
    """One fan-out on the worker path; the predicate decides link or parent per task, as in production."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = ClientConfig(token=offline_token(), tls_config=ClientTLSConfig(strategy="none"))
    hatchet = Hatchet(config=config)
    engine = InProcessEngine()
    hatchet._client.admin.v0_client = engine  # type: ignore[assignment]

    parent = hatchet.workflow(name="fanout-parent")
    worker_workflow = hatchet.workflow(name="fanout-worker")
    user_tracer = tracer_provider.get_tracer("examples.fanout")

    @parent.task(name="spawn")
    async def spawn(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        for _ in range(children):
            await worker_workflow.aio_run(wait_for_result=False)  # fire and forget
        return {}

    @worker_workflow.task(name="process-item")
    async def process_item(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        with user_tracer.start_as_current_span("process"):
            await asyncio.sleep(0.01)
        return {}

    instrumentor = HatchetInstrumentor(
        tracer_provider=tracer_provider,
        config=config,
        enable_hatchet_otel_collector=False,
        use_links_instead_of_parent=use_links_instead_of_parent,
    )
    instrumentor.instrument()
    registry = {
        flow._create_action_name(task): task for flow in (parent, worker_workflow) for task in flow.tasks
    }
    # A real worker's Runner reports to its listener process through a multiprocessing.Queue; here nobody
    # reads the events, so an in-process queue (no pipe to fill up, no feeder thread to join at exit).
    runner = Runner(
        Queue(), config, children + 1, 1, False, registry, [], None, AsyncLogSender(hatchet.event)
    )
    try:
        with user_tracer.start_as_current_span("request: start fan-out") as request:
            spawner = action(PARENT_ACTION, 0, {})
            await runner.handle_start_step_run(spawner)
        del request

        async def deliver(number: int, metadata: dict[str, Any]) -> None:
            # The engine starts child runs over time (rate limits, queueing, retries...).
            await asyncio.sleep(spread * number / max(children, 1))
            await runner.handle_start_step_run(action(CHILD_ACTION, number, metadata))

        await asyncio.gather(*(deliver(n, metadata) for n, (_, metadata) in enumerate(engine.triggered, 1)))
    finally:
        instrumentor.uninstrument()
        runner.thread_pool.shutdown()
        tracer_provider.shutdown()
    return list(exporter.get_finished_spans())


def _duration_ms(spans: Sequence[ReadableSpan]) -> float:
    return (max(span.end_time or 0 for span in spans) - min(span.start_time or 0 for span in spans)) / 1e6


@dataclass(frozen=True)
class Shape:
    """What a trace viewer would show for one fan-out."""

    traces: int
    request_spans: int
    request_ms: float
    spawn_loop_ms: float
    child_traces: int
    spans_per_child_trace: list[int]
    links_per_child_root: list[int]
    child_p50_ms: float
    child_max_ms: float


def shape_of(spans: Sequence[ReadableSpan]) -> Shape:
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        assert span.context is not None
        traces[span.context.trace_id].append(span)
    [spawn_loop] = [
        span
        for span in spans
        if span.attributes and span.attributes.get("hatchet.action_name") == PARENT_ACTION
    ]
    assert spawn_loop.context is not None
    request_trace = traces.pop(spawn_loop.context.trace_id)
    durations = [_duration_ms(trace) for trace in traces.values()] or [0.0]
    return Shape(
        traces=1 + len(traces),
        request_spans=len(request_trace),
        request_ms=_duration_ms(request_trace),
        spawn_loop_ms=_duration_ms([spawn_loop]),
        child_traces=len(traces),
        spans_per_child_trace=sorted({len(trace) for trace in traces.values()}),
        links_per_child_root=sorted(
            {len(span.links) for trace in traces.values() for span in trace if span.parent is None}
        ),
        child_p50_ms=statistics.median(durations),
        child_max_ms=max(durations),
    )


def summarize(spans: Sequence[ReadableSpan]) -> str:
    shape = shape_of(spans)
    line = (
        f"{shape.traces} trace(s); the request's: {shape.request_spans} spans, {shape.request_ms:.0f} ms "
        f"(spawn loop {shape.spawn_loop_ms:.0f} ms)"
    )
    if shape.child_traces:
        line += f"; {shape.child_traces} child traces with {shape.links_per_child_root} link(s) each"
    return line


def describe(spans: Sequence[ReadableSpan], title: str) -> None:
    shape = shape_of(spans)
    print(f"\n{title}")
    print(f"  traces: {shape.traces}")
    print(
        f"  the request's trace: {shape.request_spans} spans, {shape.request_ms:.0f} ms "
        f"(its spawn loop: {shape.spawn_loop_ms:.0f} ms)"
    )
    if shape.child_traces:
        print(
            f"  child traces: {shape.child_traces}, spans each: {shape.spans_per_child_trace}, "
            f"links on each root: {shape.links_per_child_root}, "
            f"duration p50 {shape.child_p50_ms:.0f} ms, max {shape.child_max_ms:.0f} ms"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--children", type=int, default=200, help="child runs the parent spawns (default 200)"
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=1.5,
        help="seconds over which the engine starts the children (default 1.5)",
    )
    arguments = parser.parse_args(argv)
    logging.getLogger("hatchet").setLevel(logging.WARNING)  # one "finished step run" line per child otherwise
    if arguments.children < 1 or arguments.spread < 0:
        parser.error("--children must be >= 1 and --spread >= 0")

    parent_spans = asyncio.run(run_fan_out(arguments.children, arguments.spread, None))
    describe(parent_spans, "PARENT MODE (hatchet-sdk today): children are spans of the request's trace")

    # In production the rules come from a file, an env var or the admin service; here, from an object.
    api.set_provider_and_wait(LocalProvider(RuleSet(tasks={CHILD_ACTION: "link"})), FLAGS_DOMAIN)
    with FlagPredicate() as predicate:
        link_spans = asyncio.run(run_fan_out(arguments.children, arguments.spread, predicate))
    api.clear_providers()
    describe(link_spans, f"LINK MODE ({CHILD_ACTION} -> link): each child is its own trace, linked back")


if __name__ == "__main__":
    main()

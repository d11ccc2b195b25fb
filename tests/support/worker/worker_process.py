"""A Hatchet worker process for the end-to-end tests, remote-controlled by the admin service.

It is wired exactly like a production worker: ``predicate_from_env()`` (so ``HATCHET_TRACE_FLAGS_URL`` and
``HATCHET_TRACE_FLAGS_TOKEN`` pick the AdminServiceProvider) handed to ``HatchetInstrumentor``, and task runs
go through hatchet-sdk's real ``Runner.handle_start_step_run`` with real ``Action``s (no engine needed).

Protocol: one JSON command per line on stdin, one JSON answer per line on stdout.

- ``{"cmd": "run"}``: run ``fanout-worker:process-item`` as spawned by a fixed spawner span; answers what
  its ``hatchet.start_step_run`` span looks like (``root``, ``linked_to_spawner``, ``child_of_spawner``).
- ``{"cmd": "wait", "use_links": true, "within": 5}``: until the predicate gives that answer.
- ``{"cmd": "wait_state", "state": "stale", "within": 5}``: until the provider is in that state.
- ``{"cmd": "state"}``: the provider's state, source, revision, last_error, requests.
- ``{"cmd": "exit"}``.

Run: ``python -m tests.support.worker.worker_process``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from queue import Queue
from typing import Any, TextIO

from hatchet_sdk import ClientConfig, Context, EmptyModel, Hatchet
from hatchet_sdk.config import ClientTLSConfig
from hatchet_sdk.worker.runner.runner import Runner
from hatchet_sdk.worker.runner.utils.capture_logs import AsyncLogSender
from openfeature import api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import AdminServiceProvider, HatchetInstrumentor, predicate_from_env
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from tests.support.engine.hatchet_engine import fake_token
from tests.support.waiting import until
from tests.support.worker.worker import start_action

ACTION_ID = "fanout-worker:process-item"
SPAWNER_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAWNER_SPAN_ID = 0xB7AD6B7169203331
SPAWNER = f"00-{SPAWNER_TRACE_ID:032x}-{SPAWNER_SPAN_ID:016x}-01"


async def holds(condition: Callable[[], bool], within: float) -> float:
    """Wait (:func:`tests.support.waiting.until`) for ``condition``, the state of another thread; returns
    the seconds waited. The test reads whether it holds from the answer."""
    started = time.monotonic()
    with contextlib.suppress(AssertionError):
        await until(condition, within=within)
    return time.monotonic() - started


async def serve(out: TextIO) -> None:
    def answer(payload: dict[str, Any]) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    started = time.monotonic()
    predicate = predicate_from_env()
    assert predicate is not None, "HATCHET_TRACE_FLAGS_URL is not set"
    provider = api.get_client(OPENFEATURE_DOMAIN).provider
    assert isinstance(provider, AdminServiceProvider), provider

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = ClientConfig(token=fake_token("127.0.0.1:1"), tls_config=ClientTLSConfig(strategy="none"))
    hatchet = Hatchet(config=config)
    workflow = hatchet.workflow(name="fanout-worker")

    @workflow.task(name="process-item")
    async def process_item(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {}

    instrumentor = HatchetInstrumentor(
        tracer_provider=tracer_provider,
        config=config,
        enable_hatchet_otel_collector=False,
        use_links_instead_of_parent=predicate,
    )
    instrumentor.instrument()
    registry = {workflow._create_action_name(task): task for task in workflow.tasks}
    runner = Runner(Queue(), config, 4, 1, False, registry, [], None, AsyncLogSender(hatchet.event))

    def state() -> dict[str, Any]:
        return {
            "state": provider.state,
            "source": provider.source,
            "revision": provider.revision,
            "last_error": provider.last_error,
            "streaming": provider.streaming,
            "requests": provider.requests,
        }

    answer({"ready": True, "started_in": time.monotonic() - started, **state()})
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            kind = command["cmd"]
            if kind == "run":
                exporter.clear()
                error = await runner.handle_start_step_run(start_action(ACTION_ID, {"traceparent": SPAWNER}))
                [span] = [s for s in exporter.get_finished_spans() if s.name == "hatchet.start_step_run"]
                assert span.context is not None
                spawner = (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)
                parent = None if span.parent is None else (span.parent.trace_id, span.parent.span_id)
                links = [(link.context.trace_id, link.context.span_id) for link in span.links]
                answer(
                    {
                        "error": None if error is None else repr(error),
                        "root": parent is None,
                        "child_of_spawner": parent == spawner,
                        "linked_to_spawner": links == [spawner],
                        "new_trace": span.context.trace_id != SPAWNER_TRACE_ID,
                    }
                )
            elif kind == "wait":
                wanted = command["use_links"]
                waited = await holds(lambda: predicate(ACTION_ID) is wanted, command["within"])  # noqa: B023
                answer({"ok": predicate(ACTION_ID) is wanted, "waited": waited})
            elif kind == "wait_state":
                target = command["state"]
                await holds(lambda: provider.state == target, command["within"])  # noqa: B023
                answer(state())
            elif kind == "state":
                answer(state())
            elif kind == "exit":
                return
            else:
                answer({"error": f"unknown command {kind!r}"})
    finally:
        instrumentor.uninstrument()
        predicate.close()
        api.shutdown()
        runner.thread_pool.shutdown(wait=True)
        tracer_provider.shutdown()
        answer({"bye": True})


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else that prints goes to the log, not into the protocol
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("hatchet").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(out))


if __name__ == "__main__":
    main()

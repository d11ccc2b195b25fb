"""The Hatchet workflows the tests run on the real worker path.

Task bodies record what they see in `Observations`, and create user spans with the tracer of the current
test's provider, the way an application would with its own tracer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hatchet_sdk import Context, DurableContext, EmptyModel, Hatchet, SleepCondition
from hatchet_sdk.runnables.workflow import Workflow
from opentelemetry.trace import Tracer, TracerProvider

from tests.support.worker.durable import EngineUnavailableError

try:  # hatchet-sdk 1.37 and later; it resolves the batch task's annotations when the task is declared
    from hatchet_sdk.runnables.types import BatchMemberId
except ImportError:  # no batch tasks: the batch workflow stays empty
    BatchMemberId = str  # type: ignore[misc,assignment]


@dataclass
class Observations:
    tracer_provider: TracerProvider | None = None
    fan_out: int = 3
    errors: list[BaseException] = field(default_factory=list)

    def tracer(self) -> Tracer:
        assert self.tracer_provider is not None
        return self.tracer_provider.get_tracer("tests.user")


@dataclass
class App:
    hatchet: Hatchet
    seen: Observations
    child: Workflow[EmptyModel]
    async_child: Workflow[EmptyModel]
    parent: Workflow[EmptyModel]
    sync_parent: Workflow[EmptyModel]
    durable: Workflow[EmptyModel]
    batch: Workflow[EmptyModel]

    def workflows(self) -> list[Any]:
        return [self.child, self.async_child, self.parent, self.sync_parent, self.durable, self.batch]


def build_app(hatchet: Hatchet) -> App:
    seen = Observations()
    child = hatchet.workflow(name="child")
    async_child = hatchet.workflow(name="async-child")
    parent = hatchet.workflow(name="parent")
    sync_parent = hatchet.workflow(name="sync-parent")
    durable = hatchet.workflow(name="durable")
    batch = hatchet.workflow(name="batch")

    @child.task(name="work")
    def child_work(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        with seen.tracer().start_as_current_span("user.sync-work"):
            return {}

    @async_child.task(name="work")
    async def async_child_work(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        with seen.tracer().start_as_current_span("user.async-work"):
            await asyncio.sleep(0)
            await child.aio_run(wait_for_result=False)
        return {}

    @parent.task(name="spawn")
    async def parent_spawn(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        for _ in range(seen.fan_out):
            await child.aio_run(wait_for_result=False)
        return {}

    @sync_parent.task(name="spawn")
    def sync_parent_spawn(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        with seen.tracer().start_as_current_span("user.sync-spawn"):
            child.run(wait_for_result=False)
            child.run_many(
                [child.create_bulk_run_item(), child.create_bulk_run_item()], wait_for_result=False
            )
        return {}

    @durable.durable_task(name="wait-and-spawn")
    async def durable_wait_and_spawn(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        await child.aio_run(wait_for_result=False)
        try:
            await ctx.aio_wait_for("signal", SleepCondition(timedelta(seconds=1)))
        except EngineUnavailableError as error:
            seen.errors.append(error)
        return {}

    @durable.durable_task(name="spawn-many")
    async def durable_spawn_many(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        await child.aio_run_many([child.create_bulk_run_item()] * seen.fan_out, wait_for_result=False)
        return {}

    if hasattr(batch, "batch_task"):  # hatchet-sdk 1.37 and later

        @batch.batch_task(name="collect", batch_max_size=10)
        async def batch_collect(inputs: dict[BatchMemberId, EmptyModel], ctx: Context) -> dict[str, Any]:
            with seen.tracer().start_as_current_span("user.batch-work"):
                await child.aio_run(wait_for_result=False)
            return {member: {"done": True} for member in inputs}

    return App(hatchet, seen, child, async_child, parent, sync_parent, durable, batch)

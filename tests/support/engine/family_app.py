"""A family of runs four generations deep, for Hatchet's run view: each generation's task opens a user
span and triggers the next generation. ``family-async-gen{n}`` tasks are async (``aio_run``),
``family-sync-gen{n}`` sync (``run``, in hatchet-sdk's thread pool, where no ContextVar of ours arrives).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hatchet_sdk import Context, EmptyModel, Hatchet
from hatchet_sdk.clients.events import BulkPushEventWithMetadata
from hatchet_sdk.runnables.workflow import Workflow
from opentelemetry.trace import Tracer, TracerProvider

GENERATIONS = 4
Flavour = Literal["async", "sync"]


@dataclass
class FamilyApp:
    hatchet: Hatchet
    tracer_provider: TracerProvider  # where the tasks' user spans go (read at each span)
    generations: dict[Flavour, list[Workflow[EmptyModel]]]
    triggers: Workflow[EmptyModel]  # one task making every kind of trigger hatchet-sdk's own wrappers trace

    def workflows(self) -> list[Any]:
        return [workflow for chain in self.generations.values() for workflow in chain] + [self.triggers]

    def tracer(self) -> Tracer:
        return self.tracer_provider.get_tracer("tests.user")


def action_id(flavour: Flavour, generation: int) -> str:
    return f"family-{flavour}-gen{generation}:work"


def build_family_app(hatchet: Hatchet, tracer_provider: TracerProvider) -> FamilyApp:
    generations: dict[Flavour, list[Workflow[EmptyModel]]] = {"async": [], "sync": []}
    family = FamilyApp(hatchet, tracer_provider, generations, hatchet.workflow(name="family-triggers"))
    for generation in range(GENERATIONS):
        for flavour in ("async", "sync"):
            generations[flavour].append(hatchet.workflow(name=f"family-{flavour}-gen{generation}"))

    for generation in range(GENERATIONS):
        last = generation == GENERATIONS - 1
        async_next = None if last else generations["async"][generation + 1]
        sync_next = None if last else generations["sync"][generation + 1]

        def declare(
            generation: int, async_next: Workflow[EmptyModel] | None, sync_next: Workflow[EmptyModel] | None
        ) -> None:
            @generations["async"][generation].task(name="work")
            async def async_work(input: EmptyModel, ctx: Context) -> dict[str, Any]:
                with family.tracer().start_as_current_span(f"user.async-gen{generation}"):
                    if async_next is not None:
                        await async_next.aio_run(wait_for_result=False)
                return {}

            @generations["sync"][generation].task(name="work")
            def sync_work(input: EmptyModel, ctx: Context) -> dict[str, Any]:
                with family.tracer().start_as_current_span(f"user.sync-gen{generation}"):
                    if sync_next is not None:
                        sync_next.run(wait_for_result=False)
                return {}

        declare(generation, async_next, sync_next)

    target = generations["async"][GENERATIONS - 1]

    @family.triggers.task(name="work")
    async def every_trigger(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        hatchet.event.push("family:pushed", {})
        await hatchet.event.aio_push("family:pushed", {})
        hatchet.event.bulk_push([BulkPushEventWithMetadata(key="family:bulk", payload={})])
        await hatchet.event.aio_bulk_push([BulkPushEventWithMetadata(key="family:bulk", payload={})])
        target.schedule(datetime.now(UTC) + timedelta(hours=1))
        target.run_many([target.create_bulk_run_item()] * 2, wait_for_result=False)
        await target.aio_run_many([target.create_bulk_run_item()] * 2, wait_for_result=False)
        return {}

    return family

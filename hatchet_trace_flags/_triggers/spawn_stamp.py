"""Fan-out measurement, trigger side: a spawn stamp in each run's metadata, and children counted per run.

**The stamp.** Every run a trigger wrapper sends carries :data:`SPAWNED_AT_METADATA_KEY` =
``"<microseconds since the Unix epoch>:<span id>"``, the wall-clock time of the trigger and the span id of the
traceparent written next to it. The worker that starts the run subtracts it from its own clock: that is the
child's start delay (queueing, rate limits, worker capacity). Hatchet copies a run's metadata into the runs it
spawns; binding the stamp to the traceparent (as the per-run override is, see ``relationship``) means a stamp
inherited from an ancestor is never taken for a fresh one. It is a string because Hatchet's metadata is
string-valued wherever it is shown or filtered.

**The count.** While a task runs, :data:`running` maps its hatchet-sdk action key (``ctx_action_key``, which
hatchet-sdk itself copies into sync tasks' threads) to a :class:`RunTally`; each trigger made inside the task
adds to it. Per trigger that is a ContextVar read, a dict hit and an integer increment: no lock and no dict
growth after a run's first child of each workflow. Increments from several threads of one run may race and
lose a count (it is a measurement, not accounting).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from hatchet_sdk.clients.admin import AdminClient
from hatchet_sdk.runnables.contextvars import ctx_action_key
from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
from wrapt import wrap_function_wrapper

from hatchet_trace_flags._triggers.arguments import bound_arguments
from hatchet_trace_flags._triggers.relationship import TRACEPARENT_METADATA_KEY, span_id_of

__all__ = [
    "SPAWNED_AT_METADATA_KEY",
    "RunTally",
    "count_child",
    "count_configs",
    "counted_durable_spawn",
    "running",
    "spawn_stamp",
    "spawned_at",
    "stamped_configs",
    "wrap_bulk_runs",
]

SPAWNED_AT_METADATA_KEY: Final = "hatchet_trace_flags.spawned_at"
_MAX_STAMP_DIGITS: Final = 20
# Bulk triggers whose traceparents hatchet-sdk's own wrapper writes: ours runs inside it, to stamp and count.
BULK_RUN_METHODS: Final = ((AdminClient, "run_workflows"), (AdminClient, "aio_run_workflows"))


class RunTally:
    """The runs one task run has triggered so far, per child workflow name."""

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[str, int] = {}


# action key -> tally, for the task runs in progress on this worker (added and removed by the step-run
# wrapper, so it holds at most as many entries as the worker has slots).
running: Final[dict[str, RunTally]] = {}


def count_child(workflow_name: str) -> None:
    """One run of ``workflow_name`` triggered by the task run this code runs in (if any)."""
    tally = running.get(ctx_action_key.get())  # type: ignore[arg-type]
    if tally is not None:
        children = tally.children
        children[workflow_name] = children.get(workflow_name, 0) + 1


def count_configs(configs: list[WorkflowRunTriggerConfig]) -> None:
    tally = running.get(ctx_action_key.get())  # type: ignore[arg-type]
    if tally is not None:
        children = tally.children
        for config in configs:
            children[config.workflow_name] = children.get(config.workflow_name, 0) + 1


def spawn_stamp(traceparent: str | None) -> str:
    """The stamp for a run triggered now whose metadata carries ``traceparent``."""
    return f"{time.time_ns() // 1000}:{span_id_of(traceparent)}"


def spawned_at(metadata: Mapping[str, Any]) -> int | None:
    """When the run was triggered (µs since the epoch), or ``None`` when it carries no stamp of its own."""
    value = metadata.get(SPAWNED_AT_METADATA_KEY)
    if not isinstance(value, str):
        return None
    micros, _, span_id = value.partition(":")
    own = span_id_of(metadata.get(TRACEPARENT_METADATA_KEY))
    # A stamp for another traceparent was inherited from an ancestor run. A stamp without any traceparent
    # next to it cannot have been (stamps travel with the traceparent they name): a durable task's children
    # may arrive that way when the engine does not copy the spawner's traceparent into them.
    if own and span_id != own:
        return None
    if not micros.isdigit() or len(micros) > _MAX_STAMP_DIGITS:
        return None
    return int(micros)


def counted_durable_spawn(
    configs: list[WorkflowRunTriggerConfig], spawner_metadata: Mapping[str, Any]
) -> list[WorkflowRunTriggerConfig]:
    """Children spawned from a durable task: counted, and stamped for the traceparent they inherit from it
    (hatchet-sdk gives them none of their own; where we give them one, they are stamped again)."""
    count_configs(configs)
    return stamped_configs(configs, spawner_metadata.get(TRACEPARENT_METADATA_KEY))


def stamped_configs(
    configs: list[WorkflowRunTriggerConfig], traceparent: object = None
) -> list[WorkflowRunTriggerConfig]:
    """Copies of ``configs`` with a stamp each, bound to the traceparent in each config's metadata, or to
    ``traceparent`` for those without one (children that will inherit their spawner's)."""
    stamped = []
    for config in configs:
        metadata = config.options.additional_metadata
        own = metadata.get(TRACEPARENT_METADATA_KEY)
        stamp = spawn_stamp(own if own is not None else traceparent)  # type: ignore[arg-type]
        options = config.options.model_copy(
            update={"additional_metadata": {**metadata, SPAWNED_AT_METADATA_KEY: stamp}}
        )
        stamped.append(config.model_copy(update={"options": options}))
    return stamped


def _stamp_bulk_run(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    params = bound_arguments(wrapped, args, kwargs)  # run_workflows(workflows)
    count_configs(params[0])
    params[0] = stamped_configs(params[0])
    return wrapped(*params)


def wrap_bulk_runs() -> None:
    """Stamp and count the runs of ``run_workflows``/``aio_run_workflows`` (innermost wrapper: unwrap it
    last, with ``_unwrap_once`` per method)."""
    for owner, name in BULK_RUN_METHODS:
        wrap_function_wrapper(owner, name, _stamp_bulk_run)

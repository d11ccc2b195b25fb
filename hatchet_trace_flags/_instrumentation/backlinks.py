"""Searchable attributes on both ends of a link: a linked root names its spawner, a trigger span what it made.

Most tracing backends cannot walk a span link backwards (Jaeger shows outgoing links only, Tempo's TraceQL
cannot traverse links, Hatchet's UI ignores them): from a spawner's trace nothing leads to its linked
children. Attributes can be searched everywhere, so (docs/backlinks.md has the queries per backend):

- a **linked root** (a ``hatchet.start_step_run``/``hatchet.start_batch`` span in link mode with a valid
  spawner) carries :data:`SPAWNER_TRACE_ID` and :data:`SPAWNER_SPAN_ID` (lowercase hex, as backends print
  ids) and, for a child run, :data:`SPAWNER_RUN_ID` (the spawning workflow run). Only on the start span:
  they are not among the ``hatchet.*`` attributes hatchet-sdk's collector copies onto every span of a run.
- a **trigger span** names what the engine answered it created: :data:`CHILD_RUN_ID` for one run (the key
  Hatchet's Go SDK sets and Hatchet's UI nests child runs by), :data:`CHILD_RUN_IDS` for a bulk run,
  :data:`SCHEDULE_IDS` for a schedule; an event push creates no run yet, so it names nothing.

Our own keys live under ``hatchet_trace_flags.``: the engine parses ``hatchet.step_run_id``,
``hatchet.workflow_run_id`` and ``hatchet.retry_count`` of every span it receives as UUIDs (to file spans
under runs), and a ``hatchet.*`` key of ours could collide with one it adds later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from inspect import iscoroutinefunction
from typing import Any, Final

from opentelemetry.trace import Link, Span, get_current_span
from wrapt import wrap_function_wrapper

__all__ = [
    "CHILD_RUN_ID",
    "CHILD_RUN_IDS",
    "CREATED_RUN_METHODS",
    "MAX_NAMED_RUNS",
    "SCHEDULE_IDS",
    "SPAWNER_RUN_ID",
    "SPAWNER_SPAN_ID",
    "SPAWNER_TRACE_ID",
    "name_created_run",
    "naming_wrapper",
    "with_backlinks",
    "wrap_naming",
]

SPAWNER_TRACE_ID: Final = "hatchet_trace_flags.spawner.trace_id"
SPAWNER_SPAN_ID: Final = "hatchet_trace_flags.spawner.span_id"
SPAWNER_RUN_ID: Final = "hatchet_trace_flags.spawner.workflow_run_id"
CHILD_RUN_ID: Final = "hatchet.child_workflow_run_id"
CHILD_RUN_IDS: Final = "hatchet_trace_flags.child_workflow_run_ids"
SCHEDULE_IDS: Final = "hatchet_trace_flags.schedule_ids"
# A bulk run of 10,000 would otherwise put ~400 kB of ids on one span; the first ones are enough to follow.
MAX_NAMED_RUNS: Final = 100
_TRACEPARENT_LENGTH: Final = 55


def with_backlinks(
    attributes: dict[str, Any],
    links: Sequence[Link] | None,
    spawning_run_id: str | None,
    traceparent: object,
) -> dict[str, Any]:
    """A start span's attributes: ``attributes`` as they are, plus the spawner's ids when the span is a
    linked root (``links`` holds the link to the spawner ``traceparent`` names)."""
    if not links:
        return attributes
    # The link exists, so the traceparent parsed: "00-<32 hex>-<16 hex>-<2 hex>", in lowercase (the W3C
    # propagator accepts nothing else). Slicing it is ~10x cheaper than formatting the two ints again.
    if type(traceparent) is str and len(traceparent) == _TRACEPARENT_LENGTH:  # the plain case: no blanks
        trace_id, span_id = traceparent[3:35], traceparent[36:52]
    else:
        text = traceparent.strip() if isinstance(traceparent, str) else ""
        if len(text) >= _TRACEPARENT_LENGTH - 3:
            trace_id, span_id = text[3:35], text[36:52]
        else:  # not from a traceparent (never, today): the link's own ids
            trace_id, span_id = (
                format(links[0].context.trace_id, "032x"),
                format(links[0].context.span_id, "016x"),
            )
    if spawning_run_id:
        return {
            **attributes,
            SPAWNER_TRACE_ID: trace_id,
            SPAWNER_SPAN_ID: span_id,
            SPAWNER_RUN_ID: spawning_run_id,
        }
    return {**attributes, SPAWNER_TRACE_ID: trace_id, SPAWNER_SPAN_ID: span_id}


def name_created_run(span: Span, ref: object) -> None:
    """Put the run id a single trigger got back (a ``WorkflowRunRef``) on its span."""
    run_id = getattr(ref, "workflow_run_id", None)
    if isinstance(run_id, str) and run_id and span.is_recording():
        span.set_attribute(CHILD_RUN_ID, run_id)


def _run_ids(refs: object) -> list[str]:
    """The run ids of a bulk trigger's ``WorkflowRunRef``s or a durable spawn's ``DurableSpawnResult``s."""
    ids: list[str] = []
    for ref in refs if isinstance(refs, list) else ():
        run_id = getattr(ref, "workflow_run_id", None) or getattr(ref, "workflow_run_external_id", None)
        if isinstance(run_id, str) and run_id:
            ids.append(run_id)
    return ids


def _name_runs(span: Span, refs: object) -> None:
    ids = _run_ids(refs)
    if len(ids) == 1:
        span.set_attribute(CHILD_RUN_ID, ids[0])
    elif ids:
        span.set_attribute(CHILD_RUN_IDS, ids[:MAX_NAMED_RUNS])


def _name_schedules(span: Span, version: object) -> None:
    # The engine answers a schedule with the workflow version and the schedules it created from the request.
    scheduled = getattr(version, "scheduled_workflows", None) or ()
    ids = [item.id for item in scheduled if isinstance(getattr(item, "id", None), str) and item.id]
    if ids:
        span.set_attribute(SCHEDULE_IDS, ids[:MAX_NAMED_RUNS])


_Namer = Callable[[Span, object], None]

# The triggers whose span hatchet-sdk's (or our durable) wrapper starts: a wrapper inside it reads the result
# and names it on that span, the current one. The single-run triggers' own wrappers call name_created_run.
CREATED_RUN_METHODS: Final[Mapping[str, _Namer]] = {
    "AdminClient.run_workflows": _name_runs,
    "AdminClient.aio_run_workflows": _name_runs,
    "AdminClient.schedule_workflow": _name_schedules,
    "DurableContext._spawn_children_no_wait": _name_runs,
}


def naming_wrapper(key: str, is_async: bool) -> Callable[..., Any] | None:
    """The innermost wrapper for the trigger ``key`` (``Class.method``), or None when it names nothing."""
    namer = CREATED_RUN_METHODS.get(key)
    if namer is None:
        return None

    def name(result: object) -> None:
        span = get_current_span()
        if span.is_recording():
            # Naming is a courtesy: it never fails a trigger that already succeeded.
            with contextlib.suppress(Exception):
                namer(span, result)

    if is_async:

        async def async_wrapper(
            wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            result = await wrapped(*args, **kwargs)
            name(result)
            return result

        return async_wrapper

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        result = wrapped(*args, **kwargs)
        name(result)
        return result

    return wrapper


def wrap_naming(owner: type, name: str) -> int:
    """Put the naming wrapper on ``owner.name`` if it has one; how many layers that added (0 or 1)."""
    wrapper = naming_wrapper(f"{owner.__name__}.{name}", iscoroutinefunction(getattr(owner, name)))
    if wrapper is None:
        return 0
    wrap_function_wrapper(owner, name, wrapper)
    return 1

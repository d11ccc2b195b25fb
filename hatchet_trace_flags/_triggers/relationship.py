"""Per-run override of the trace relationship, chosen by the code that triggers a run.

``with trace_relationship("link"): workflow.run(input, wait_for_result=False)`` asks the worker to start that
run's trace as a linked root, whatever the task's own setting says; ``"parent"`` asks for a child span. It
covers every trigger made inside the block, from sync and async code alike (``run``, ``aio_run``,
``run_no_wait``, ``run_many``, ``schedule``, event pushes, and children spawned from durable tasks).

The request travels in the run's ``additional_metadata`` under :data:`RELATIONSHIP_METADATA_KEY`, as
``"<mode>:<span id>"``, where the span id is the one of the traceparent injected next to it. Hatchet copies a
run's metadata into the runs it spawns, so without that binding a grandchild would silently inherit its
grandparent's override; with it, the worker honours an override only for the traceparent it was written for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, Literal, TypeAlias

Relationship: TypeAlias = Literal["link", "parent"]

RELATIONSHIP_METADATA_KEY: Final = "hatchet_trace_flags.relationship"
TRACEPARENT_METADATA_KEY: Final = "traceparent"

_requested: ContextVar[Relationship | None] = ContextVar("hatchet_trace_flags_relationship", default=None)


@contextmanager
def trace_relationship(relationship: Relationship) -> Iterator[None]:
    """Ask for ``"link"`` or ``"parent"`` on every run triggered inside this block."""
    if relationship not in ("link", "parent"):
        raise ValueError(f"relationship must be 'link' or 'parent', got {relationship!r}")
    token = _requested.set(relationship)
    try:
        yield
    finally:
        _requested.reset(token)


def requested_relationship() -> Relationship | None:
    """The relationship asked for by the innermost enclosing :func:`trace_relationship`, if any."""
    return _requested.get()


def span_id_of(traceparent: object) -> str:
    # traceparent: "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"
    if isinstance(traceparent, str) and len(traceparent) >= 52:
        return traceparent[36:52]
    return ""


def with_relationship(metadata: Mapping[str, Any], relationship: Relationship) -> dict[str, Any]:
    """``metadata`` plus the override, bound to the traceparent already injected into it."""
    span_id = span_id_of(metadata.get(TRACEPARENT_METADATA_KEY))
    return {**metadata, RELATIONSHIP_METADATA_KEY: f"{relationship}:{span_id}"}


def relationship_for(metadata: Mapping[str, Any]) -> Relationship | None:
    """The override a run's metadata asks for, or ``None`` when there is none meant for this run."""
    value = metadata.get(RELATIONSHIP_METADATA_KEY)
    if not isinstance(value, str):
        return None
    relationship, _, span_id = value.partition(":")
    if span_id != span_id_of(metadata.get(TRACEPARENT_METADATA_KEY)):
        return None  # inherited from an ancestor run, not written for this one
    if relationship == "link":
        return "link"
    if relationship == "parent":
        return "parent"
    return None

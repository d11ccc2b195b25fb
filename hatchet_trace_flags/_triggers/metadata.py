"""What a trigger writes into a run's ``additional_metadata``: the traceparent, the per-run override and the
spawn stamp (``spawn_stamp``).

hatchet-sdk's own wrappers inject the traceparent for most triggers; we add the override (see
``relationship``) from an inner wrapper that runs after theirs. For durable spawns and the single-run
triggers, our wrappers write both themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
from opentelemetry.trace import Span, get_current_span

from hatchet_trace_flags._triggers.arguments import bound_arguments
from hatchet_trace_flags._triggers.relationship import (
    TRACEPARENT_METADATA_KEY,
    Relationship,
    requested_relationship,
    with_relationship,
)
from hatchet_trace_flags._triggers.spawn_stamp import SPAWNED_AT_METADATA_KEY, spawn_stamp

OverrideAdder: TypeAlias = Callable[[list[Any], Relationship], None]


def traceparent_of(span: Span) -> str | None:
    """What ``TraceContextTextMapPropagator.inject`` writes for ``span``, without a carrier and a context."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _config_with_metadata(
    config: WorkflowRunTriggerConfig, metadata: Mapping[str, Any]
) -> WorkflowRunTriggerConfig:
    options = config.options.model_copy(update={"additional_metadata": metadata})
    return config.model_copy(update={"options": options})


def traced_metadata(
    metadata: Mapping[str, Any], span: Span, relationship: Relationship | None, stamp: bool = False
) -> Mapping[str, Any]:
    """``metadata`` with ``span``'s traceparent, the spawn stamp (with ``stamp``) and, when one is
    requested, the override, both bound to that traceparent."""
    traceparent = traceparent_of(span)
    if traceparent is not None:
        if stamp:
            metadata = {
                **metadata,
                TRACEPARENT_METADATA_KEY: traceparent,
                SPAWNED_AT_METADATA_KEY: spawn_stamp(traceparent),
            }
        else:
            metadata = {**metadata, TRACEPARENT_METADATA_KEY: traceparent}
    if relationship is not None:
        metadata = with_relationship(metadata, relationship)
    return metadata


def traced_config(
    config: WorkflowRunTriggerConfig, relationship: Relationship | None, stamp: bool = False
) -> WorkflowRunTriggerConfig:
    """The config with the current span's traceparent (the stamp, the override, if any) in its metadata."""
    metadata = traced_metadata(config.options.additional_metadata, get_current_span(), relationship, stamp)
    return _config_with_metadata(config, metadata)


# Each adder rewrites one trigger method's bound arguments (copies, never mutations of the caller's objects).


def add_override_to_schedule(params: list[Any], relationship: Relationship) -> None:
    options = params[3]  # schedule_workflow(name, schedules, input, options)
    if options is not None:
        metadata = with_relationship(options.additional_metadata, relationship)
        params[3] = options.model_copy(update={"additional_metadata": metadata})


def add_override_to_bulk_run(params: list[Any], relationship: Relationship) -> None:
    params[0] = [  # run_workflows(workflows)
        _config_with_metadata(config, with_relationship(config.options.additional_metadata, relationship))
        for config in params[0]
    ]


def add_override_to_push(params: list[Any], relationship: Relationship) -> None:
    params[3] = with_relationship(params[3] or {}, relationship)  # push(key, payload, options, metadata, ...)


def add_override_to_bulk_push(params: list[Any], relationship: Relationship) -> None:
    params[0] = [  # bulk_push(events, options)
        event.model_copy(
            update={"additional_metadata": with_relationship(event.additional_metadata, relationship)}
        )
        for event in params[0]
    ]


def override_wrapper(add: OverrideAdder) -> Callable[..., Any]:
    """A wrapt wrapper that adds the requested override, when there is one, to a trigger's arguments."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        relationship = requested_relationship()
        if relationship is None:
            return wrapped(*args, **kwargs)
        params = bound_arguments(wrapped, args, kwargs)
        add(params, relationship)
        return wrapped(*params)

    return wrapper

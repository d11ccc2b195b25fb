"""What a trigger writes into a run's ``additional_metadata``: the traceparent, the per-run override, the
spawn stamp (``spawn_stamp``) and, with the engine copy on, the engine's shape of the traceparent with the
link shape next to it (``_engine_view.view``).

hatchet-sdk's own wrappers inject the traceparent for most triggers; we add the rest from an inner wrapper
that runs after theirs. For durable spawns and the single-run triggers, our wrappers write all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeAlias

from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
from opentelemetry.trace import Span, get_current_span
from pydantic import BaseModel

from hatchet_trace_flags._engine_view import view as engine_view
from hatchet_trace_flags._engine_view.view import EngineView
from hatchet_trace_flags._triggers.arguments import bound_arguments
from hatchet_trace_flags._triggers.relationship import (
    TRACEPARENT_METADATA_KEY,
    Relationship,
    requested_relationship,
    with_relationship,
)
from hatchet_trace_flags._triggers.spawn_stamp import SPAWNED_AT_METADATA_KEY, spawn_stamp

MetadataRewrite: TypeAlias = Callable[[Mapping[str, Any]], Mapping[str, Any]]
OverrideAdder: TypeAlias = Callable[[list[Any], MetadataRewrite], None]


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
    requested, the override, both bound to that traceparent; in the engine's shape with the engine copy on."""
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
        view = engine_view.current()
        if view is not None:
            metadata = view.with_family(metadata, traceparent, span.get_span_context().trace_id)
    if relationship is not None:
        metadata = with_relationship(metadata, relationship)
    return metadata


def traced_config(
    config: WorkflowRunTriggerConfig, relationship: Relationship | None, stamp: bool = False
) -> WorkflowRunTriggerConfig:
    """The config with the current span's traceparent (the stamp, the override, if any) in its metadata."""
    metadata = traced_metadata(config.options.additional_metadata, get_current_span(), relationship, stamp)
    return _config_with_metadata(config, metadata)


def rewritten(
    metadata: Mapping[str, Any], view: EngineView | None, relationship: Relationship | None
) -> Mapping[str, Any]:
    """What an inner wrapper makes of the metadata hatchet-sdk's wrapper wrote: engine's shape, override."""
    if view is not None:
        metadata = view.family_metadata(metadata)
    if relationship is not None:
        metadata = with_relationship(metadata, relationship)
    return metadata


# Each adder rewrites one trigger method's bound arguments (copies, never mutations of the caller's objects).


def add_override_to_schedule(params: list[Any], rewrite: MetadataRewrite) -> None:
    options = params[3]  # schedule_workflow(name, schedules, input, options)
    if options is not None:
        params[3] = options.model_copy(update={"additional_metadata": rewrite(options.additional_metadata)})


def add_override_to_bulk_run(params: list[Any], rewrite: MetadataRewrite) -> None:
    params[0] = [  # run_workflows(workflows)
        _config_with_metadata(config, rewrite(config.options.additional_metadata)) for config in params[0]
    ]


def add_override_to_push(params: list[Any], rewrite: MetadataRewrite) -> None:
    params[3] = rewrite(params[3] or {})  # push(key, payload, options, metadata, ...)


def add_override_to_bulk_push(params: list[Any], rewrite: MetadataRewrite) -> None:
    params[0] = [  # bulk_push(events, options)
        event.model_copy(update={"additional_metadata": rewrite(event.additional_metadata)})
        for event in params[0]
    ]


def override_wrapper(add: OverrideAdder) -> Callable[..., Any]:
    """A wrapt wrapper that adds the requested override, when there is one, to a trigger's arguments, and puts
    the traceparent hatchet-sdk's wrapper wrote in the engine's shape when the engine copy is on."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        relationship = requested_relationship()
        view = engine_view.current()
        if relationship is None and view is None:
            return wrapped(*args, **kwargs)
        params = bound_arguments(wrapped, args, kwargs)
        add(params, partial(rewritten, view=view, relationship=relationship))
        return wrapped(*params)

    return wrapper


_MAX_DEPTH = 3


def _in_engine_shape(value: Any, view: EngineView, depth: int = 0) -> Any:
    if isinstance(value, Mapping):
        return view.family_metadata(value) if TRACEPARENT_METADATA_KEY in value else value
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [_in_engine_shape(item, view, depth + 1) for item in value]
    if isinstance(value, BaseModel):
        updates: dict[str, Any] = {
            name: _in_engine_shape(getattr(value, name), view, depth + 1)
            for name in ("additional_metadata", "options")
            if name in type(value).model_fields
        }
        return value.model_copy(update=updates) if updates else value
    return value


def fallback_family_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """For a trigger that this hatchet-sdk changed and that gets hatchet-sdk's own wrapper (``compat``): the
    argument shapes are unknown, so every metadata mapping with a traceparent found in the arguments
    (directly, in a list, or in a model's ``additional_metadata``/``options``) gets the engine's shape."""
    view = engine_view.current()
    if view is None:
        return wrapped(*args, **kwargs)
    return wrapped(
        *(_in_engine_shape(arg, view) for arg in args),
        **{name: _in_engine_shape(value, view) for name, value in kwargs.items()},
    )

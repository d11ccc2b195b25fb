"""The durable-task wrappers of :class:`~hatchet_trace_flags.HatchetInstrumentor`.

hatchet-sdk's ``DurableContext.aio_wait_for`` and ``_spawn_children_no_wait`` wrappers parent their spans on
the *incoming* traceparent (the spawner's), and durable children get no traceparent of their own. In link
mode (or with a per-run override) that would put them in the spawner's trace; these wrappers keep them in
the task's own trace and give every child a traceparent. A base class of the instrumentor, kept in its own
module so that each file stays about one thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, cast

from hatchet_sdk.context.context import DurableContext, DurableSpawnResult
from hatchet_sdk.opentelemetry import instrumentor as _stock
from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
from hatchet_sdk.utils.opentelemetry import OTelAttribute
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from hatchet_trace_flags._fanout.metrics import FanoutMeasurement
from hatchet_trace_flags._triggers.bulk_spans import individual_run_spans, traced_bulk_configs
from hatchet_trace_flags._triggers.relationship import requested_relationship
from hatchet_trace_flags._triggers.spawn_stamp import counted_durable_spawn

__all__ = ["DurableWrappers", "in_link_mode"]

# Whether the step run this code runs in keeps its own context apart from the incoming traceparent: link
# mode, or a run started from the link-shaped context next to an engine-shaped traceparent (``_engine_view``).
# Read by the durable wrappers, which only run in async tasks.
in_link_mode: ContextVar[bool] = ContextVar("hatchet_trace_flags_in_link_mode", default=False)


class DurableWrappers(_stock.HatchetInstrumentor):
    """Never instantiated on its own: :class:`~hatchet_trace_flags.HatchetInstrumentor` is the class."""

    _tracer: Tracer
    _fanout: FanoutMeasurement | None

    def _config_attributes(self, config: WorkflowRunTriggerConfig) -> dict[str, Any]:
        raise NotImplementedError  # the instrumentor's: hatchet-sdk's run_workflow attributes

    async def _wrap_aio_wait_for(
        self,
        wrapped: Callable[..., Coroutine[None, None, dict[str, Any]]],
        instance: DurableContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        if not in_link_mode.get():
            return await super()._wrap_aio_wait_for(wrapped, instance, args, kwargs)
        # Upstream parents this span on the spawner's traceparent; in link mode it belongs to this task's
        # trace.
        params = self.extract_bound_args(wrapped, args, kwargs)
        attributes: dict[OTelAttribute, str | int | None] = {
            OTelAttribute.SIGNAL_KEY: cast(str, params[0]),
            OTelAttribute.NUM_CONDITIONS: len(params[1:]),
            OTelAttribute.STEP_RUN_ID: instance.task_run_id,
        }
        excluded = self.config.otel.excluded_attributes
        with self._tracer.start_as_current_span(
            "hatchet.durable.wait_for",
            attributes={
                "instrumentor": "hatchet",
                **{
                    f"hatchet.{key.value}": value
                    for key, value in attributes.items()
                    if value is not None and key not in excluded
                },
            },
            kind=SpanKind.INTERNAL,
        ) as span:
            try:
                return await wrapped(*args, **kwargs)
            except Exception as error:
                span.set_status(StatusCode.ERROR, str(error))
                raise

    async def _wrap_spawn_children_no_wait(
        self,
        wrapped: Callable[..., Coroutine[None, None, list[DurableSpawnResult]]],
        instance: DurableContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> list[DurableSpawnResult]:
        relationship = requested_relationship()
        measuring = self._fanout is not None
        if measuring:
            spawned = self.extract_bound_args(wrapped, args, kwargs)[0]
            args, kwargs = (counted_durable_spawn(spawned, instance.action.additional_metadata),), {}
        if relationship is None and not in_link_mode.get():
            return await super()._wrap_spawn_children_no_wait(wrapped, instance, args, kwargs)
        # Upstream parents this span on the spawner and sends the children no traceparent of their own (they
        # inherit the spawner's). Here the span belongs to the current trace and every child carries it.
        configs = cast(list[WorkflowRunTriggerConfig], self.extract_bound_args(wrapped, args, kwargs)[0])
        if len(configs) == 1:
            span_name = "hatchet.run_workflow"
            config = configs[0]
            attributes = self._config_attributes(config)
        else:
            span_name = "hatchet.run_workflows"
            attributes = {
                "instrumentor": "hatchet",
                "hatchet.num_workflows": len(configs),
                "hatchet.unique_workflow_names": json.dumps(
                    {config.workflow_name for config in configs}, default=str
                ),
            }
        per_item = len(configs) > 1 and individual_run_spans(self.config)
        with (
            self._tracer.start_as_current_span(
                span_name, attributes=attributes, kind=SpanKind.PRODUCER
            ) as span,
            traced_bulk_configs(
                self._tracer,
                configs,
                relationship,
                self._config_attributes if per_item else None,
                stamp=measuring,
            ) as traced,
        ):
            try:
                return await wrapped(traced)
            except Exception as error:
                span.set_status(StatusCode.ERROR, str(error))
                raise

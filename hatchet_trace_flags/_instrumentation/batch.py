"""A span for batch tasks: ``Runner.handle_start_batch`` (hatchet-sdk >= 1.37), untraced by hatchet-sdk.

A batch task gets one ``START_BATCH`` action for many task runs. Its ``hatchet.start_batch`` span is what
``hatchet.start_step_run`` is for a single run: kind CONSUMER, the ``hatchet.*`` attributes that apply, the
batch's id and size, and the same parent/link choice (the per-run override in the action's metadata first,
then the predicate, asked with the batch's ``action_id``). Following the OpenTelemetry messaging conventions,
a batch "process" span links to the creation context of the messages it handles; the only creation context a
``START_BATCH`` action can carry is the traceparent in its ``additional_metadata`` (the items carry none of
their own), so that is the one spawner it can link to or be the child of. Hatchet's engine currently sends
batch starts without any metadata: there, the span is a root without links, in either mode.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

from hatchet_sdk import ClientConfig
from hatchet_sdk.runnables.action import Action
from hatchet_sdk.runnables.contextvars import ctx_hatchet_span_attributes
from hatchet_sdk.utils.opentelemetry import OTelAttribute
from hatchet_sdk.worker.runner.runner import Runner
from opentelemetry.trace import SpanKind, Tracer
from wrapt import wrap_function_wrapper

from hatchet_trace_flags._decisions.evaluation_event import record_evaluation
from hatchet_trace_flags._decisions.task_decision import TaskDecider
from hatchet_trace_flags._instrumentation.active_span import active
from hatchet_trace_flags._instrumentation.backlinks import with_backlinks
from hatchet_trace_flags._instrumentation.links import start_context
from hatchet_trace_flags._triggers.relationship import TRACEPARENT_METADATA_KEY

BATCH_START_METHOD: Final = "handle_start_batch"
BATCH_SPAN_NAME: Final = "hatchet.start_batch"
# A START_BATCH action's own payload is empty (the inputs are per item): the attribute would say nothing.
_PAYLOAD_ATTRIBUTE: Final = f"hatchet.{OTelAttribute.ACTION_PAYLOAD.value}"


class BatchTracing(Protocol):
    """What the wrapper needs from the instrumentor."""

    config: ClientConfig

    @property
    def _tracer(self) -> Tracer: ...

    @property
    def _decider(self) -> TaskDecider: ...


def batch_attributes(action: Action, config: ClientConfig) -> dict[str, Any]:
    """The step-run span's ``hatchet.*`` attributes that apply to a batch, plus the batch's own."""
    attributes: dict[str, Any] = action.get_otel_attributes(config)
    attributes.pop(_PAYLOAD_ATTRIBUTE, None)
    if action.batch_id:
        attributes["hatchet.batch_id"] = action.batch_id
    attributes["hatchet.batch_size"] = len(action.batch_items or ())
    if action.batch_key:
        attributes["hatchet.batch_key"] = action.batch_key
    if action.batch_start is not None and action.batch_start.trigger_reason:
        attributes["hatchet.batch_trigger_reason"] = action.batch_start.trigger_reason
    return attributes


def has_batch_tasks() -> bool:
    """Whether this hatchet-sdk has batch tasks (1.37 and later)."""
    return callable(getattr(Runner, BATCH_START_METHOD, None))


def wrap_batch_starts(tracing: BatchTracing) -> bool:
    """Trace ``Runner.handle_start_batch``; ``False``, wrapping nothing, on a hatchet-sdk without it."""
    if not has_batch_tasks():
        return False

    async def wrapper(
        wrapped: Callable[..., Coroutine[None, None, None]],
        instance: Runner,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        action: Action = args[0] if args else kwargs["action"]
        metadata = action.additional_metadata
        decided = tracing._decider.decide(action.action_id, metadata)
        link_mode = decided.use_links
        traceparent = metadata.get(TRACEPARENT_METADATA_KEY) if metadata else None
        context, links = start_context(link_mode, traceparent)

        span_name = BATCH_SPAN_NAME
        if tracing.config.otel.include_task_name_in_start_step_run_span_name:
            span_name += f".{action.action_id}"
        attributes = batch_attributes(action, tracing.config)

        # As for step runs: hatchet-sdk's collector copies these onto every span the batch task starts.
        attributes_token = ctx_hatchet_span_attributes.set(attributes)
        try:
            span = tracing._tracer.start_span(
                span_name,
                context=context,
                kind=SpanKind.CONSUMER,
                attributes=with_backlinks(attributes, links, action.parent_workflow_run_id, traceparent),
                links=links,
            )
            record_evaluation(span, decided)
            with active(span):
                await wrapped(*args, **kwargs)
        finally:
            ctx_hatchet_span_attributes.reset(attributes_token)

    wrap_function_wrapper(Runner, BATCH_START_METHOD, wrapper)
    return True

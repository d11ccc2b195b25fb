"""Children spawned in bulk from a durable task: one traceparent for all, or one span per child.

hatchet-sdk's ``ClientConfig.otel.individual_run_spans_for_bulk_run`` (1.35.1 has it already) gives each
item of a bulk run its own ``hatchet.run_workflow`` span, under the ``hatchet.run_workflows`` span, and that
span's traceparent. Its ``run_workflows`` wrappers honour it; children spawned in bulk from a durable task go
through our wrapper whenever a run is in link mode or an override is requested, so it honours the option
here. Then a linked child points at the span of its own trigger, not at one span shared by all the children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hatchet_sdk import ClientConfig
from hatchet_sdk.types.trigger import WorkflowRunTriggerConfig
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, use_span

from hatchet_trace_flags._triggers.metadata import traced_config
from hatchet_trace_flags._triggers.relationship import Relationship


def individual_run_spans(config: ClientConfig) -> bool:
    # getattr: a hatchet-sdk without the option (older than the 1.35.1 checked) always shares one span.
    return getattr(config.otel, "individual_run_spans_for_bulk_run", False) is True


@contextmanager
def traced_bulk_configs(
    tracer: Tracer,
    configs: Sequence[WorkflowRunTriggerConfig],
    relationship: Relationship | None,
    item_attributes: Callable[[WorkflowRunTriggerConfig], dict[str, Any]] | None,
    stamp: bool = False,
) -> Iterator[list[WorkflowRunTriggerConfig]]:
    """Each config with a traceparent (and the override); per-item spans when ``item_attributes`` is given.

    Without ``item_attributes`` every config carries the current span. With it, each config gets a
    ``hatchet.run_workflow`` PRODUCER span of its own, ended when the block exits; an exception escaping the
    block is recorded on every one of them, as hatchet-sdk does. ``stamp``: each carries a spawn stamp too.
    """
    if item_attributes is None:
        yield [traced_config(config, relationship, stamp) for config in configs]
        return
    spans: list[Span] = []
    try:
        traced = []
        for config in configs:
            span = tracer.start_span(
                "hatchet.run_workflow", attributes=item_attributes(config), kind=SpanKind.PRODUCER
            )
            spans.append(span)
            with use_span(span):
                traced.append(traced_config(config, relationship, stamp))
        yield traced
    except Exception as error:
        for span in spans:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR, str(error))
        raise
    finally:
        for span in spans:
            span.end()

"""Fails loudly when hatchet-sdk changes anything our instrumentor relies on.

The instrumentor wraps private hatchet-sdk methods and subclasses private wrappers of its instrumentor. If
this test fails after an upgrade, re-read hatchet_sdk/opentelemetry/instrumentor.py and the wrapped methods,
adapt hatchet_trace_flags/_instrumentor.py and only then widen the hatchet-sdk range in pyproject.toml.
"""

from __future__ import annotations

import inspect

import pytest
from hatchet_sdk.opentelemetry import instrumentor as stock

from hatchet_trace_flags._instrumentor import _TARGETS

EXPECTED_PARAMETERS = {
    "Runner.handle_start_step_run": ["self", "action"],
    "Runner.handle_cancel_action": ["self", "action"],
    "EventClient.push": [
        "self",
        "event_key",
        "payload",
        "options",
        "additional_metadata",
        "priority",
        "scope",
    ],
    "EventClient.bulk_push": ["self", "events", "options"],
    "EventClient.aio_push": [
        "self",
        "event_key",
        "payload",
        "options",
        "additional_metadata",
        "priority",
        "scope",
    ],
    "EventClient.aio_bulk_push": ["self", "events", "options"],
    "AdminClient.run_workflow": ["self", "workflow_name", "input", "options"],
    "AdminClient.aio_run_workflow": ["self", "workflow_name", "input", "options"],
    "AdminClient.schedule_workflow": ["self", "name", "schedules", "input", "options"],
    "AdminClient.run_workflows": ["self", "workflows"],
    "AdminClient.aio_run_workflows": ["self", "workflows"],
    "DurableContext.aio_wait_for": ["self", "signal_key", "conditions", "label"],
    "DurableContext._spawn_children_no_wait": ["self", "configs"],
}

STOCK_WRAPPERS = {
    "_wrap_handle_start_step_run",
    "_wrap_handle_cancel_action",
    "_wrap_push_event",
    "_wrap_bulk_push_event",
    "_wrap_aio_push_event",
    "_wrap_aio_bulk_push_event",
    "_wrap_run_workflow",
    "_wrap_async_run_workflow",
    "_wrap_schedule_workflow",
    "_wrap_run_workflows",
    "_wrap_async_run_workflows",
    "_wrap_aio_wait_for",
    "_wrap_spawn_children_no_wait",
    "_build_run_workflow_attributes",
    "extract_bound_args",
    "_add_hatchet_exporter",
}


@pytest.mark.parametrize(("owner", "name"), [(owner, name) for owner, name, _, _ in _TARGETS])
def test_wrapped_method_signatures_are_unchanged(owner: type, name: str) -> None:
    parameters = list(inspect.signature(vars(owner)[name]).parameters)
    assert parameters == EXPECTED_PARAMETERS[f"{owner.__name__}.{name}"]


def test_we_wrap_exactly_what_upstream_wraps() -> None:
    assert {f"{owner.__name__}.{name}" for owner, name, _, _ in _TARGETS} == set(EXPECTED_PARAMETERS)
    upstream = inspect.getsource(stock.HatchetInstrumentor._instrument)
    assert upstream.count("wrap_function_wrapper(") == len(_TARGETS)


def test_stock_wrappers_we_build_on_still_exist() -> None:
    missing = {
        name for name in STOCK_WRAPPERS if not callable(getattr(stock.HatchetInstrumentor, name, None))
    }
    assert missing == set()


def test_stock_constructor_is_what_we_forward() -> None:
    assert list(inspect.signature(stock.HatchetInstrumentor.__init__).parameters) == [
        "self",
        "tracer_provider",
        "meter_provider",
        "config",
        "enable_hatchet_otel_collector",
        "schedule_delay_millis",
        "max_export_batch_size",
        "max_queue_size",
    ]

"""Fails loudly when hatchet-sdk changes anything our instrumentor relies on.

The instrumentor wraps private hatchet-sdk methods and subclasses private wrappers of its instrumentor; what
it supports is listed once, in hatchet_trace_flags/_instrumentation/compat.py. At run time a difference only
costs span links (those methods fall back to stock spans, with a warning); here it fails. If this test fails
after an upgrade, re-read hatchet_sdk/opentelemetry/instrumentor.py and the wrapped methods, adapt
hatchet_trace_flags/_instrumentation/instrumentor.py and the table in _instrumentation/compat.py, and only
then widen the hatchet-sdk range in pyproject.toml (docs/versions.md).
"""

from __future__ import annotations

import inspect

import pytest
from hatchet_sdk.opentelemetry import instrumentor as stock

from hatchet_trace_flags._instrumentation.compat import SUPPORTED_PARAMETERS, difference
from hatchet_trace_flags._instrumentation.instrumentor import _TARGETS

# Stock helpers we override or that the stock wrappers we reuse call; not checked at run time because a
# change to them does not break a wrapped call.
STOCK_HELPERS = {"_build_run_workflow_attributes", "extract_bound_args", "_add_hatchet_exporter"}


@pytest.mark.parametrize(
    ("owner", "name", "wrapper_name"), [(owner, name, wrapper) for owner, name, wrapper, _ in _TARGETS]
)
def test_wrapped_methods_and_their_stock_wrappers_are_what_we_support(
    owner: type, name: str, wrapper_name: str
) -> None:
    assert name in vars(owner), "defined on the class we wrap, not inherited"
    assert difference(owner, name, wrapper_name) is None


def test_we_wrap_exactly_what_upstream_wraps() -> None:
    assert {f"{owner.__name__}.{name}" for owner, name, _, _ in _TARGETS} == set(SUPPORTED_PARAMETERS)
    upstream = inspect.getsource(stock.HatchetInstrumentor._instrument)
    assert upstream.count("wrap_function_wrapper(") == len(_TARGETS)


def test_stock_helpers_we_build_on_still_exist() -> None:
    missing = {name for name in STOCK_HELPERS if not callable(getattr(stock.HatchetInstrumentor, name, None))}
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

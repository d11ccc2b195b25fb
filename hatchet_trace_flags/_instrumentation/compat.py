"""What of hatchet-sdk the instrumentor relies on, and the check that keeps an unknown hatchet-sdk working.

The instrumentor wraps thirteen hatchet-sdk methods (private API) and builds on the private ``_wrap_*``
methods of hatchet-sdk's own instrumentor. The parameter names below are those of every verified
hatchet-sdk release (docs/versions.md); tests/test_contract.py holds the installed hatchet-sdk to them.

A newer hatchet-sdk may change one of them. Wrapping it blind would break task starts or triggers, so
:func:`stock_fallbacks` compares the installed hatchet-sdk with this table when ``instrument()`` runs: a
method that differs gets hatchet-sdk's own wrapper (stock spans, no span links, no per-run override) and one
warning names every difference; the other methods are instrumented as usual.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, MethodType
from typing import Any, Final

from hatchet_sdk.opentelemetry import instrumentor as _stock

logger = logging.getLogger("hatchet_trace_flags")

# "Class.method" -> parameter names, in order, of each method the instrumentor wraps.
SUPPORTED_PARAMETERS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "Runner.handle_start_step_run": ("self", "action"),
        "Runner.handle_cancel_action": ("self", "action"),
        "EventClient.push": (
            "self",
            "event_key",
            "payload",
            "options",
            "additional_metadata",
            "priority",
            "scope",
        ),
        "EventClient.bulk_push": ("self", "events", "options"),
        "EventClient.aio_push": (
            "self",
            "event_key",
            "payload",
            "options",
            "additional_metadata",
            "priority",
            "scope",
        ),
        "EventClient.aio_bulk_push": ("self", "events", "options"),
        "AdminClient.run_workflow": ("self", "workflow_name", "input", "options"),
        "AdminClient.aio_run_workflow": ("self", "workflow_name", "input", "options"),
        "AdminClient.schedule_workflow": ("self", "name", "schedules", "input", "options"),
        "AdminClient.run_workflows": ("self", "workflows"),
        "AdminClient.aio_run_workflows": ("self", "workflows"),
        "DurableContext.aio_wait_for": ("self", "signal_key", "conditions", "label"),
        "DurableContext._spawn_children_no_wait": ("self", "configs"),
    }
)

# Every wrapt wrapper of hatchet-sdk's instrumentor; we call them positionally through super().
STOCK_WRAPPER_PARAMETERS: Final = ("self", "wrapped", "instance", "args", "kwargs")

# One wrapped method as the instrumentor lists it: (class, method, name of the instrumentor's wrapper, ...).
Target = tuple[type, str, str, Any]
Wrapper = Callable[..., Any]


def _parameters(function: object) -> tuple[str, ...] | None:
    try:
        return tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def difference(owner: type, name: str, wrapper_name: str) -> str | None:
    """How the installed hatchet-sdk differs from what we support for one wrapped method, or ``None``."""
    method = f"{owner.__name__}.{name}"
    expected = SUPPORTED_PARAMETERS[method]
    if not hasattr(owner, name):
        return f"{method} is missing"
    found = _parameters(getattr(owner, name))
    if found != expected:
        shown = "an unreadable signature" if found is None else f"({', '.join(found)})"
        return f"{method} takes {shown}, supported is ({', '.join(expected)})"
    stock_wrapper = getattr(_stock.HatchetInstrumentor, wrapper_name, None)
    if stock_wrapper is None:
        return f"hatchet-sdk's HatchetInstrumentor has no {wrapper_name}"
    found = _parameters(stock_wrapper)
    if found != STOCK_WRAPPER_PARAMETERS:
        shown = "an unreadable signature" if found is None else f"({', '.join(found)})"
        return (
            f"hatchet-sdk's HatchetInstrumentor.{wrapper_name} takes {shown}, "
            f"supported is ({', '.join(STOCK_WRAPPER_PARAMETERS)})"
        )
    return None


def stock_fallbacks(
    instrumentor: _stock.HatchetInstrumentor, targets: Iterable[Target]
) -> dict[str, Wrapper | None]:
    """The wrapped methods the installed hatchet-sdk changed, each with what to wrap it with instead.

    Keyed ``"Class.method"``: hatchet-sdk's own wrapper bound to ``instrumentor`` (so the method gets stock
    spans), or ``None`` when hatchet-sdk has no usable wrapper for it either (the method stays unwrapped).
    Logs one warning naming every difference; nothing when there is none.
    """
    fallbacks: dict[str, Wrapper | None] = {}
    differences: list[str] = []
    for owner, name, wrapper_name, _ in targets:
        found = difference(owner, name, wrapper_name)
        if found is None:
            continue
        differences.append(found)
        fallback: Wrapper | None = None
        stock_wrapper = getattr(_stock.HatchetInstrumentor, wrapper_name, None)
        if (
            stock_wrapper is not None
            and hasattr(owner, name)
            and _parameters(stock_wrapper) == STOCK_WRAPPER_PARAMETERS
        ):
            # The stock function bound to our instance: our overrides of the same name are never called.
            fallback = MethodType(stock_wrapper, instrumentor)
        fallbacks[f"{owner.__name__}.{name}"] = fallback
    if differences:
        logger.warning(
            "hatchet-sdk %s differs from what hatchet-trace-flags supports: %s. Those methods get "
            "hatchet-sdk's own instrumentation where it has one (stock spans: no span links, no per-run "
            "override); everything else is instrumented as usual. docs/versions.md lists the supported "
            "hatchet-sdk versions.",
            _stock.hatchet_sdk_version,
            "; ".join(differences),
        )
    return fallbacks

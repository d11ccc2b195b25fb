"""Ask the predicate about a worker's tasks when hatchet-sdk builds the worker's runner.

hatchet-sdk builds one ``Runner`` per worker process, with the ``action_registry`` of every task the
worker registered, before the first task arrives. Handing those action_ids to the predicate's
``prefetch`` there means the first start of each task finds its decision cached, whatever the provider
(see :meth:`hatchet_trace_flags.FlagPredicate.prefetch`). Any predicate with a ``prefetch(action_ids)``
method gets this; plain callables are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Prefetching", "prefetch_on_runner_init"]

logger = logging.getLogger("hatchet_trace_flags")


@runtime_checkable
class Prefetching(Protocol):
    """A predicate that can be told in advance which action_ids it will be asked about."""

    def prefetch(self, action_ids: Iterable[str]) -> int: ...


def prefetch_on_runner_init(predicate_of: Callable[[], object]) -> Callable[..., None]:
    """A wrapt wrapper for ``Runner.__init__`` that prefetches the registered action_ids; never raises."""

    def wrapper(wrapped: Callable[..., None], instance: Any, args: tuple[Any, ...], kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        predicate = predicate_of()
        if not isinstance(predicate, Prefetching):
            return
        registry = getattr(instance, "action_registry", None)
        if not isinstance(registry, Mapping) or not registry:
            return
        try:
            predicate.prefetch([action_id for action_id in registry if isinstance(action_id, str)])
        except Exception:  # a worker must start whatever its flag system does
            logger.warning("hatchet-trace-flags: prefetching decisions for the worker failed", exc_info=True)

    return wrapper

"""Fork safety for flag predicates: every live predicate's lock is held across ``os.fork()``, so a child never
copies a half-updated cache, and the child renews what threads and locks it cannot inherit (the predicates'
refresh threads, the decision counters' lock, OpenFeature's event executor)."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from openfeature import _event_support

from hatchet_trace_flags._decisions import decision_metrics

__all__ = ["ForkSafe", "track"]

logger = logging.getLogger("hatchet_trace_flags")


class ForkSafe(Protocol):
    """What a tracked object offers: the lock guarding its state, and a way to start afresh in a child."""

    _lock: threading.Lock

    def _after_fork_in_child(self) -> None: ...


def track(predicate: ForkSafe) -> None:
    """Hold ``predicate``'s lock across every fork from now on (weakly: it may still be collected)."""
    with _live_lock:
        _live_predicates.add(predicate)


_live_lock = threading.Lock()
_live_predicates: weakref.WeakSet[ForkSafe] = weakref.WeakSet()
_held_for_fork: list[ForkSafe] = []


def _before_fork() -> None:
    # Hold every predicate's lock across fork so the child never copies a half-updated cache.
    decision_metrics.counters_lock.acquire()
    _live_lock.acquire()
    _held_for_fork[:] = list(_live_predicates)
    for predicate in _held_for_fork:
        predicate._lock.acquire()


def _after_fork_in_parent() -> None:
    for predicate in _held_for_fork:
        predicate._lock.release()
    _held_for_fork.clear()
    _live_lock.release()
    decision_metrics.counters_lock.release()


def _after_fork_in_child() -> None:
    global _live_lock
    for predicate in _held_for_fork:
        predicate._after_fork_in_child()
    _held_for_fork.clear()
    _live_lock = threading.Lock()
    decision_metrics.renew_counters_lock_after_fork()
    _renew_openfeature_event_executor()


def _renew_openfeature_event_executor() -> None:
    # openfeature-sdk 0.10 runs event handlers on a module-level ThreadPoolExecutor that does not survive
    # fork: in a child of a process that had used it, the dead worker still counts as idle, so submitted
    # handlers wait in its queue forever and no provider event (no flag flip) reaches a handler. A fresh
    # executor for the child fixes that; it starts no thread until an event is emitted.
    try:
        if isinstance(_event_support._event_executor, ThreadPoolExecutor):
            _event_support._event_executor = ThreadPoolExecutor(
                thread_name_prefix="openfeature-event-handler"
            )
    except Exception:
        logger.exception("hatchet-trace-flags: cannot renew OpenFeature's event executor after fork")


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)

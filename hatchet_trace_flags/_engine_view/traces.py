"""Which trace Hatchet's engine files a worker trace under: the map behind the engine's parent-shaped copy.

A run's spans on this worker live in the run's *own* trace: a new trace in link mode, the link-shaped trace
for a run triggered from inside a linked run. Hatchet's engine files the run, and draws its run view, in the
trace of the run's metadata ``traceparent``. When the two differ, the step-run wrapper holds an entry
*own trace id -> engine trace id* for as long as the run is active; the engine copy (``processor``) and every
trigger made in that trace (``family``) read it.

Keyed by trace id, not by a ContextVar: sync tasks run in threads that receive only hatchet-sdk's own
ContextVars, but every span and every trigger knows its trace id. A lookup is one ``dict.get`` (atomic under
the GIL, no lock); holds and releases take a lock.

Lifetime: an entry lives while any run of its trace is active on this worker, then ``grace`` seconds more
(spans that end after their run; the instrumentor makes it at least twice the exporter's schedule delay). It
is dropped after that, or earlier when more than ``max_entries`` are kept: least recently released first
(active entries are never dropped). A dropped trace id is remembered (up to ``max_forgotten``, the oldest
forgotten first) so that a late span or trigger in it is known to be link-shaped: it is left out of the engine
copy and counted, never sent to the engine as it is.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_FORGOTTEN", "EngineTarget", "EngineTraces"]

DEFAULT_MAX_ENTRIES: Final = 10_000
DEFAULT_MAX_FORGOTTEN: Final = 100_000


class EngineTarget:
    """Where the engine copy of one worker trace goes."""

    __slots__ = ("active", "engine_trace_id", "released_at", "spawner_span_id")

    def __init__(self, engine_trace_id: int, spawner_span_id: int) -> None:
        self.engine_trace_id = engine_trace_id
        # The parent the engine copy gives the trace's root (the linked start span): the spawning span.
        self.spawner_span_id = spawner_span_id
        self.active = 0
        self.released_at = 0.0


class EngineTraces:
    """Own trace id -> :class:`EngineTarget`, for the traces whose runs the engine files elsewhere."""

    def __init__(
        self,
        grace: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_forgotten: int = DEFAULT_MAX_FORGOTTEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace = grace
        self._max_entries = max_entries
        self._max_forgotten = max_forgotten
        self._clock = clock
        # Never replaced, only mutated: the processor keeps their bound lookups. Both are first-in first-out:
        # an OrderedDict finds its oldest entry at once, where a dict emptied from the front scans every slot
        # it has deleted (with 100,000 forgotten, each hold would cost tens of µs).
        self.targets: dict[int, EngineTarget] = {}
        self.forgotten: OrderedDict[int, None] = OrderedDict()
        self._released: OrderedDict[int, None] = (
            OrderedDict()
        )  # kept, inactive; least recently released first
        # When the oldest of them was released: a hold or release looks at the released entries only once the
        # oldest is past its grace or the map is over its bound, not on every call.
        self._oldest_release = 0.0
        self._lock = threading.Lock()
        # A fork while another thread holds the lock would leave the child's copy locked for ever.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def hold(self, own_trace_id: int, engine_trace_id: int, spawner_span_id: int) -> EngineTarget:
        """One more active run in ``own_trace_id``; the first holder's target stays (a trace has one)."""
        with self._lock:
            target = self.targets.get(own_trace_id)
            if target is None:
                target = EngineTarget(engine_trace_id, spawner_span_id)
                self.targets[own_trace_id] = target
                if self.forgotten:
                    self.forgotten.pop(own_trace_id, None)
            elif target.active == 0:
                self._released.pop(own_trace_id, None)
            target.active += 1
            if self._released and (
                len(self.targets) > self._max_entries or self._oldest_release <= self._clock() - self.grace
            ):
                self._drop_excess()
            return target

    def release(self, own_trace_id: int) -> None:
        """One run in ``own_trace_id`` ended (after its start span ended)."""
        with self._lock:
            target = self.targets.get(own_trace_id)
            if target is None or target.active == 0:
                return
            target.active -= 1
            now = self._clock()
            released = self._released
            if target.active == 0:
                target.released_at = now
                if not released:
                    self._oldest_release = now
                released[own_trace_id] = None
            if released and (
                len(self.targets) > self._max_entries or self._oldest_release <= now - self.grace
            ):
                self._drop_excess()

    def __len__(self) -> int:
        return len(self.targets)

    def _drop_excess(self) -> None:
        # The oldest releases are at the front: drop those past their grace, then any over the bound.
        released = self._released
        expired_before = self._clock() - self.grace
        excess = len(self.targets) - self._max_entries
        while released:
            trace_id = next(iter(released))
            if excess <= 0 and self.targets[trace_id].released_at > expired_before:
                self._oldest_release = self.targets[trace_id].released_at
                break
            del released[trace_id]
            del self.targets[trace_id]
            self._forget(trace_id)
            excess -= 1

    def _forget(self, trace_id: int) -> None:
        forgotten = self.forgotten
        forgotten[trace_id] = None
        if len(forgotten) > self._max_forgotten:
            forgotten.popitem(last=False)

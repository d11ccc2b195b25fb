"""Which action_ids this worker evaluates, waiting to be reported to the admin service.

``note`` runs on the task path (from a flag evaluation, i.e. a decision-cache miss): a dictionary
lookup when the action_id was reported recently (and a dictionary store, so that the worker's heartbeat can
say it ran again), else a short lock to queue it. The reporter thread
``take``s batches, and ``confirm``s or ``requeue``s them. Everything is bounded: a worker that cannot
reach the service, or that sees a stream of distinct action_ids, never grows without limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Final

__all__ = ["SeenTasks"]

_MAX_PENDING: Final = 10_000
_MAX_REMEMBERED: Final = 10_000


class SeenTasks:
    """action_ids to report; each is reported again at most every ``refresh`` seconds."""

    def __init__(self, *, refresh: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._refresh = refresh
        self._timer = timer
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}  # insertion-ordered set: oldest reported first
        self._reported: dict[str, float] = {}  # action_id -> when it was last confirmed
        # Reported recently and evaluated again since: the worker's heartbeat refreshes their sightings.
        self._ran: dict[str, None] = {}
        self.dropped = 0  # noted while the queue was full

    def note(self, action_id: str) -> None:
        reported = self._reported.get(action_id)
        if reported is not None and self._timer() - reported < self._refresh:
            ran = self._ran
            if len(ran) < _MAX_PENDING:  # no lock: a store into a dict is atomic, a lost one harmless
                ran[action_id] = None
            return
        with self._lock:
            if action_id in self._pending:
                return
            if len(self._pending) >= _MAX_PENDING:
                self.dropped += 1
                return
            self._pending[action_id] = None

    def take(self, limit: int) -> list[str]:
        with self._lock:
            batch: list[str] = []
            for action_id in self._pending:
                if len(batch) == limit:
                    break
                batch.append(action_id)
            for action_id in batch:
                del self._pending[action_id]
            return batch

    def confirm(self, action_ids: Iterable[str]) -> None:
        now = self._timer()
        with self._lock:
            if len(self._reported) >= _MAX_REMEMBERED:
                self._reported = {}  # simply report them again
            reported = dict(self._reported)  # copy-on-write: note() reads it without the lock
            for action_id in action_ids:
                reported[action_id] = now
            self._reported = reported

    def requeue(self, action_ids: Iterable[str]) -> None:
        with self._lock:
            for action_id in action_ids:
                if len(self._pending) >= _MAX_PENDING:
                    self.dropped += 1
                    continue
                self._pending.setdefault(action_id, None)

    def take_ran(self, limit: int) -> list[str]:
        """The action_ids evaluated again since the last call (at most ``limit``; the rest are dropped:
        they are noted again on their next evaluation)."""
        ran, self._ran = self._ran, {}
        return list(ran)[:limit]

    def __len__(self) -> int:
        return len(self._pending)

    def after_fork(self) -> None:
        self._lock = threading.Lock()

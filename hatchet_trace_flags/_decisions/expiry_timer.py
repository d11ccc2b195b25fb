"""A wall-clock alarm for the next expiry of the rules a provider serves.

A rule set may hold time-boxed settings (``RuleSet.next_expiry``). The provider serves the rules in force
(``rules.at(now)``) and sets this alarm for the next ``until``: when it rings, the provider swaps in the
reverted rules and emits ``PROVIDER_CONFIGURATION_CHANGED``, so decision caches drop what they hold. It
needs nothing but this process: a worker reverts on time with the admin service unreachable or down.

One daemon ``threading.Timer`` at a time; scheduling again replaces it. The callback holds the provider
weakly, so an alarm never keeps a dropped provider alive.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Generic, TypeVar

__all__ = ["ExpiryTimer"]

_Owner = TypeVar("_Owner")

# Rings this much after ``until``: a timer may wake a hair early, and at ``until`` itself the setting
# has ended (``rules.at(until)`` applies it).
_LATE_SECONDS: Final = 0.001
THREAD_NAME: Final = "hatchet-trace-flags-expiry"


class ExpiryTimer(Generic[_Owner]):
    def __init__(self, owner: _Owner, ring: Callable[[_Owner], None]) -> None:
        self._owner = weakref.ref(owner)
        self._ring = ring
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._moment: datetime | None = None

    @property
    def moment(self) -> datetime | None:
        """When the alarm rings next, ``None`` when it is not set."""
        return self._moment

    def schedule(self, moment: datetime | None) -> None:
        """Ring at ``moment`` (replacing any earlier alarm); ``None`` only cancels."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._moment = moment
            if moment is None:
                return
            delay = max(0.0, (moment - datetime.now(UTC)).total_seconds()) + _LATE_SECONDS
            timer = threading.Timer(delay, self._fire, args=(moment,))
            timer.name = THREAD_NAME
            timer.daemon = True
            self._timer = timer
            timer.start()

    def cancel(self) -> None:
        self.schedule(None)

    def after_fork(self) -> None:
        """In a forked child: the timer thread did not survive; set the alarm again."""
        self._lock = threading.Lock()
        self._timer = None
        self.schedule(self._moment)

    def _fire(self, moment: datetime) -> None:
        with self._lock:
            if self._moment != moment:
                return  # replaced while this one was about to ring
            self._timer = None
            self._moment = None
        if datetime.now(UTC) < moment:
            # The wall clock was set back, or the timer's monotonic clock ran ahead of it.
            self.schedule(moment)
            return
        owner = self._owner()
        if owner is not None:
            self._ring(owner)

"""The expiry clock: writes the revert of each time-boxed setting at its ``until``.

One background task per process. It sleeps until the earliest ``until`` of the served rule set (woken
early whenever the served snapshot changes, whoever wrote it), then reverts what is due, one change at
a time, through :meth:`FlagService.revert_due`. Every replica runs one: the store makes sure each
revert is written once (store/rules/expiry_writes.py). A process that starts after an ``until`` passed
reverts at once. A failing attempt (database away) is logged and retried; meanwhile readers are
already served the reverted values (services/served_rules.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.store.schema import utcnow

from .background import BackgroundLoop
from .flags import FlagService

__all__ = ["ExpiryClock"]

logger = logging.getLogger("hatchet_trace_flags_server")

_RETRY_SECONDS: Final = 1.0


class ExpiryClock(BackgroundLoop):
    task_name = "expiry-clock"

    def __init__(
        self,
        flags: FlagService,
        served: Callable[[], RulesSnapshot | None],
        *,
        idle_seconds: float,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._flags = flags
        self._served = served
        # Without a pending expiry, look again this often anyway (a safety net like the feed's resync).
        self._idle_seconds = idle_seconds
        self._now = now
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """The served rules changed: the next ``until`` may have too."""
        self._wake.set()

    async def revert_due(self) -> int:
        """Write every revert due now; returns how many this process wrote."""
        written = 0
        while await self._flags.revert_due(self._now()) is not None:
            written += 1
        return written

    def _seconds_to_next(self) -> float:
        snapshot = self._served()
        upcoming = snapshot.rules.next_expiry if snapshot is not None else None
        if upcoming is None:
            return self._idle_seconds
        return max(0.0, min(self._idle_seconds, (upcoming - self._now()).total_seconds()))

    async def _loop(self) -> None:
        while True:
            delay = self._seconds_to_next()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                self._wake.clear()
                continue
            try:
                await self.revert_due()
            except Exception:
                logger.warning("reverting ended time-boxed settings failed; retrying", exc_info=True)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            # Reverts publish new snapshots; when none is due here any more (another replica wrote
            # it and its snapshot has not arrived yet), wait for it instead of spinning.
            snapshot = self._served()
            upcoming = snapshot.rules.next_expiry if snapshot is not None else None
            if upcoming is not None and upcoming <= self._now():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=_RETRY_SECONDS)

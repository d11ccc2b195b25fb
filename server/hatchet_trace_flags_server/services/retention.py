"""The retention sweep: forgets discovered tasks that no worker reported for the retention period,
fan-out summaries older than the insight window (after keeping the numbers around recent mode changes,
services/before_after.py), and workers that did not report for theirs.

A background task per process. A failing sweep (database away, lock timeout) is logged and tried
again on the next tick, so the loop recovers by itself; several replicas sweeping at once only
delete the same old rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from hatchet_trace_flags_server.services.before_after import BeforeAfter
from hatchet_trace_flags_server.store.insights import InsightStore
from hatchet_trace_flags_server.store.schema import utcnow
from hatchet_trace_flags_server.store.seen_tasks import SeenStore
from hatchet_trace_flags_server.store.workers import WorkerStore

from .background import BackgroundLoop

__all__ = ["RetentionSweep"]

logger = logging.getLogger("hatchet_trace_flags_server")


class RetentionSweep(BackgroundLoop):
    task_name = "seen-retention"

    def __init__(
        self,
        seen: SeenStore,
        *,
        retention_seconds: float,
        interval_seconds: float,
        on_expired: Callable[[int], None] = lambda _count: None,
        clock: Callable[[], datetime] = utcnow,
        insights: InsightStore | None = None,
        insight_window_seconds: float = 900.0,
        before_after: BeforeAfter | None = None,
        workers: WorkerStore | None = None,
        worker_retention_seconds: float = 7 * 86_400.0,
    ) -> None:
        self._workers = workers
        self._worker_retention = timedelta(seconds=worker_retention_seconds)
        self._seen = seen
        self._insights = insights
        self._insight_window = insight_window_seconds
        self._before_after = before_after
        self._retention = timedelta(seconds=retention_seconds)
        self._interval = interval_seconds
        self._on_expired = on_expired
        self._clock = clock
        self.sweeps = 0  # completed sweeps, failed ones not counted
        self.failures = 0

    async def sweep(self) -> int:
        """One sweep now; returns how many tasks were forgotten."""
        expired = await self._seen.expire(self._clock() - self._retention)
        if expired:
            logger.info("forgot %d discovered tasks not seen for %s", expired, self._retention)
        self._on_expired(expired)
        if self._before_after is not None:
            # First: the numbers around recent mode changes are kept before their rows go.
            await self._before_after.keep()
        if self._insights is not None:
            # One minute of slack: the oldest minute still read is only partly inside the window.
            oldest = (self._clock().timestamp() - self._insight_window) // 60 - 1
            await self._insights.expire(int(oldest))
        if self._workers is not None:
            await self._workers.expire(self._clock() - self._worker_retention)
        self.sweeps += 1
        return expired

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                logger.exception("sweeping old discovered tasks failed; trying again in %g s", self._interval)
            await asyncio.sleep(self._interval)

"""The service layer of the fleet: workers' reports of themselves (charged to the reporting token's rate
limit, capped in number), the fleet against the served revision, and how far one change has reached.

A report refreshes the worker's row and, through ``running``, the last sighting of the tasks it ran again
since its previous report, so a task list's "last seen" is true within about a heartbeat without a request
of its own (docs/server.md, "Workers").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from hatchet_trace_flags.contract import validate_action_id
from hatchet_trace_flags_server.core.fleet import QUIET_AFTER, Fleet, Reach, WorkerRow, worker_state
from hatchet_trace_flags_server.core.metrics import Metrics
from hatchet_trace_flags_server.core.ratelimit import RateLimiter
from hatchet_trace_flags_server.core.worker_bodies import WorkerReportIn
from hatchet_trace_flags_server.store.schema import utcnow
from hatchet_trace_flags_server.store.workers import WorkerStore

from .feed import ChangeFeed

__all__ = ["RUNNING_PER_UNIT", "WorkerService"]

logger = logging.getLogger("hatchet_trace_flags_server")

# A report costs one unit of the token's bucket, plus one per this many running action_ids (each is a row
# update): a heartbeat of a worker running a thousand tasks costs what eleven bare heartbeats do.
RUNNING_PER_UNIT = 100
# Workers read for one fleet view (the page, the API's list, a reach).
MAX_LISTED = 5_000


class WorkerService:
    def __init__(
        self,
        store: WorkerStore,
        feed: ChangeFeed,
        metrics: Metrics,
        *,
        report_limiter: RateLimiter,
        max_workers: int,
        store_id: Callable[[], str | None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._feed = feed
        self._metrics = metrics
        self._limiter = report_limiter
        self._max_workers = max_workers
        self._store_id = store_id
        self._clock = clock
        self._ignored_logged = False

    async def report(self, reporter: str, report: WorkerReportIn) -> bool:
        """Keep ``report`` as its worker's latest, charged to ``reporter`` (its token's name). False: a new
        worker past the limit, not kept."""
        self._limiter.take(reporter, 1 + math.ceil(len(report.running) / RUNNING_PER_UNIT))
        running = [
            validate_action_id(action_id, field=f"running[{index}]")
            for index, action_id in enumerate(report.running)
        ]
        recorded = await self._store.record(
            report.row(), reporter=reporter, running=running, cap=self._max_workers
        )
        if not recorded:
            self._metrics.workers_ignored.inc()
            if not self._ignored_logged:
                self._ignored_logged = True
                logger.warning(
                    "%d workers are known (MAX_WORKERS): a new worker's report (%s) is not kept until "
                    "the retention sweep forgets quiet ones",
                    self._max_workers,
                    report.worker,
                )
        return recorded

    async def fleet(self, *, limit: int = MAX_LISTED) -> Fleet:
        """Every worker heard from in the last day (quiet ones too), against the served revision."""
        now = self._clock()
        rows = await self._store.list(since=now - timedelta(days=1), limit=min(limit, MAX_LISTED))
        revision, store = self._feed.snapshot.revision, self._store_id()
        classified = [(row, worker_state(row, revision=revision, store=store, now=now)) for row in rows]
        behind = [row for row, state in classified if state == "behind"]
        return Fleet(
            revision=revision,
            store=store,
            rows=classified,
            current=sum(1 for _, state in classified if state == "current"),
            behind=len(behind),
            unknown=sum(1 for _, state in classified if state == "unknown"),
            quiet=sum(1 for _, state in classified if state == "quiet"),
            behind_last_contact=min((row.last_seen for row in behind), default=None),
        )

    async def reach(self, revision: int) -> Reach:
        """How many active workers apply ``revision`` (or a later one), and how long it took them."""
        now = self._clock()
        rows = await self._store.list(since=now - QUIET_AFTER, limit=MAX_LISTED)
        store = self._store_id()
        changed_at = await self._store.changed_at(revision)
        reached: list[WorkerRow] = []
        pending: list[str] = []
        unknown = 0
        for row in rows:
            if row.revision is None:
                unknown += 1
            elif row.revision >= revision and (row.store is None or store is None or row.store == store):
                reached.append(row)
            else:
                pending.append(row.worker)
        seconds: float | None = None
        if not pending and reached and changed_at is not None:
            arrivals = [row.revision_seen_at for row in reached if row.revision_seen_at is not None]
            # A worker that was already on a later revision got there after the write, or at once.
            seconds = (
                max(0.0, max((at - changed_at).total_seconds() for at in arrivals)) if arrivals else None
            )
        return Reach(
            revision=revision,
            changed_at=changed_at,
            workers=len(rows),
            reached=len(reached),
            unknown=unknown,
            seconds=seconds,
            pending=sorted(pending)[:10],
        )

    async def expire(self, older_than: datetime) -> int:
        return await self._store.expire(older_than)

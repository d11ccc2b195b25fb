"""This worker's report of itself to the admin service (``POST WORKER_REPORT_PATH``): who it is, which rules
revision it applies and since when, stream or polling, and the tasks it ran again since its last report.

It rides with the task reports (the follower's report task calls :meth:`WorkerHeartbeat.send_if_due` after
each round, on the same connection): sent at once when the applied revision (or its source or store)
changed, since the follower wakes the report task for that, and otherwise once every
``WORKER_HEARTBEAT_SECONDS``. Several revisions applied while one report is in flight make one more report,
not several. ``running`` (the action_ids evaluated again whose task report is still fresh, from
:class:`SeenTasks`) lets the service keep each task's "last seen" true within about a heartbeat, without a
request of its own.

A task never waits for any of this, and a rejection never fails anything:

- 404, 405, 410 or 422: the service does not know worker reports (an older version), or not this shape.
  Logged once at INFO; nothing is sent for ``unknown_pause`` seconds. The worker shows as "unknown
  revision" there, from its task reports.
- 429: not before its ``Retry-After``. 401/403, 5xx, timeouts: tried again a third of a heartbeat later (the
  task report sees a refused token or an outage first, and backs the whole round off).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Final

import httpx

from hatchet_trace_flags._admin.protocol import Sink, retry_after_seconds
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags.contract import (
    MAX_RUNNING_PER_REPORT,
    WORKER_HEARTBEAT_SECONDS,
    WORKER_REPORT_PATH,
    WorkerReport,
)

__all__ = ["PROVIDER_KIND", "WorkerHeartbeat"]

logger = logging.getLogger("hatchet_trace_flags")

PROVIDER_KIND: Final = "admin-service"
UNKNOWN_PAUSE: Final = 600.0
_NOT_KNOWN: Final = frozenset({404, 405, 410, 422})
_JITTER: Final = 0.1


def _version_of(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


class WorkerHeartbeat:
    def __init__(
        self,
        base_url: str,
        sink: Sink,
        seen: SeenTasks,
        *,
        timeout: float,
        interval: float = WORKER_HEARTBEAT_SECONDS,
        unknown_pause: float = UNKNOWN_PAUSE,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}{WORKER_REPORT_PATH}"
        self._sink = sink
        self._seen = seen
        self._timeout = timeout
        self._interval = interval
        self._unknown_pause = unknown_pause
        self._timer = timer
        self._host = socket.gethostname()
        self._library_version = _version_of("hatchet-trace-flags") or "unknown"
        self._sdk_version = _version_of("hatchet-sdk")
        self._next_due = 0.0  # the next heartbeat; the first round sends
        self._paused_until = 0.0  # nothing before this, not even a new revision (Retry-After, failures)
        self._sent_key: tuple[int | None, str | None, str] | None = None
        self._told: set[str] = set()
        self.sent = 0  # reports the service accepted

    def outdated(self) -> bool:
        """Whether what is applied now differs from what the service was last told (then report at once)."""
        applied = self._sink.applied()
        return (applied.revision, applied.store, applied.source) != self._sent_key

    async def send_if_due(self, client: httpx.AsyncClient, worker: str) -> None:
        """Report now if the applied revision changed or a heartbeat is due; never raises."""
        now = self._timer()
        if now < self._paused_until or (now < self._next_due and not self.outdated()):
            return
        try:
            await self._send(client, worker)
        except Exception:  # a bug here must never reach the task reports
            logger.exception("hatchet-trace-flags: reporting this worker failed")
            self._paused_until = self._timer() + self._interval

    async def _send(self, client: httpx.AsyncClient, worker: str) -> None:
        applied = self._sink.applied()
        report = WorkerReport(
            worker=worker,
            host=self._host[:255],
            library_version=self._library_version[:64],
            sdk_version=self._sdk_version[:64] if self._sdk_version else None,
            provider=PROVIDER_KIND,
            source=applied.source,
            revision=applied.revision,
            store=applied.store,
            applied_at=applied.since,
            streaming=applied.streaming,
            running=self._seen.take_ran(MAX_RUNNING_PER_REPORT),
        )
        self._sink.count_request("worker")
        try:
            async with asyncio.timeout(self._timeout):
                response = await client.post(self._url, json=report.to_json())
        except (TimeoutError, httpx.HTTPError):
            self._paused_until = self._timer() + self._interval / 3
            return
        status = response.status_code
        if 200 <= status < 300:
            self.sent += 1
            self._sent_key = (applied.revision, applied.store, applied.source)
            self._next_due = self._timer() + self._interval * random.uniform(1 - _JITTER, 1 + _JITTER)
            return
        if status in _NOT_KNOWN:
            self._paused_until = self._timer() + self._unknown_pause
            self._tell_once(
                "unknown",
                f"the admin service does not take worker reports (HTTP {status} to POST "
                f"{WORKER_REPORT_PATH}); it lists this worker with an unknown revision; asking again in "
                f"{self._unknown_pause:g} s",
            )
            return
        retry_after = retry_after_seconds(response.headers.get("retry-after")) if status == 429 else None
        self._paused_until = self._timer() + max(self._interval / 3, retry_after or 0.0)

    def _tell_once(self, problem: str, message: str) -> None:
        if problem not in self._told:
            self._told.add(problem)
            logger.info("hatchet-trace-flags: %s; tasks run as usual", message)

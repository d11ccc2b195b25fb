"""Sends this worker's fan-out summaries to the admin service: ``POST /api/v1/tasks/insights``.

The follower's report task calls :meth:`InsightReporter.send` after each task report that went through, so
the summaries ride with the task reports, on the same connection and the same schedule, and never while
the service is unreachable or refuses the token. The payload (docs/insight.md) holds what was recorded since
the last report that was delivered (delta semantics), split into requests of at most
``MAX_TASKS_PER_REQUEST`` tasks.

A task never waits for any of this, and a rejection never fails anything:

- 404, 405, 410 or 422: the service does not know insights (yet), or not this schema. Logged once at INFO;
  nothing is sent for ``unknown_pause`` seconds (the summaries gathered meanwhile stay bounded and go with
  the next attempt).
- any other 4xx but 401/403/429: this report will never be accepted; it is dropped, and logged once.
- 401, 403, 429, 5xx, timeouts and connection failures: the summaries are put back and go with the next
  report (the task report sees a refusal or an outage first, and backs off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

from hatchet_trace_flags._fanout.stats import FanoutStats
from hatchet_trace_flags.contract import (
    CHILDREN_BOUNDS,
    INSIGHTS_PATH,
    INSIGHTS_SCHEMA,
    MAX_INSIGHT_TASKS_PER_REPORT,
    SECONDS_BOUNDS,
    TaskSummary,
)

__all__ = ["INSIGHTS_PATH", "MAX_TASKS_PER_REQUEST", "SCHEMA", "InsightReporter", "insights_payload"]

logger = logging.getLogger("hatchet_trace_flags")

# The contract's names, under the ones this module has always used.
SCHEMA: Final = INSIGHTS_SCHEMA
MAX_TASKS_PER_REQUEST: Final = MAX_INSIGHT_TASKS_PER_REPORT
UNKNOWN_PAUSE: Final = 600.0
_NOT_KNOWN: Final = frozenset({404, 405, 410, 422})


def insights_payload(
    worker: str,
    tasks: Mapping[str, TaskSummary],
    *,
    start: float,
    end: float,
    dropped: int = 0,
) -> dict[str, Any]:
    """One request's body: the summaries of ``tasks`` gathered between ``start`` and ``end`` (Unix s)."""
    return {
        "schema": SCHEMA,
        "worker": worker,
        "window": {"start": start, "end": end},
        "bounds": {"seconds": list(SECONDS_BOUNDS), "children": list(CHILDREN_BOUNDS)},
        "dropped": dropped,
        "tasks": [summary.to_json(action_id) for action_id, summary in tasks.items()],
    }


class InsightReporter:
    def __init__(
        self,
        url: str,
        stats: FanoutStats,
        *,
        timeout: float,
        unknown_pause: float = UNKNOWN_PAUSE,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._stats = stats
        self._timeout = timeout
        self._unknown_pause = unknown_pause
        self._timer = timer
        self._clock = clock
        self._since = clock()  # start of the window not yet delivered
        self._paused_until = 0.0
        self._told: set[str] = set()  # problems logged already (each once)
        self.sent = 0  # requests the service accepted

    async def send(self, client: httpx.AsyncClient, worker: str) -> None:
        """Send what was gathered since the last delivered report, if anything, unless the service said no."""
        if self._timer() < self._paused_until:
            return
        tasks, dropped = self._stats.take()
        if not tasks and not dropped:
            return
        end = self._clock()
        items = list(tasks.items())
        for first in range(0, max(len(items), 1), MAX_TASKS_PER_REQUEST):
            batch = dict(items[first : first + MAX_TASKS_PER_REQUEST])
            body = insights_payload(
                worker, batch, start=self._since, end=end, dropped=dropped if first == 0 else 0
            )
            try:
                delivered = await self._post(client, body)
            except Exception:  # a bug here must never reach the task reports
                logger.exception("hatchet-trace-flags: sending fan-out insights failed")
                delivered = False
            if not delivered:
                self._stats.restore(dict(items[first:]), dropped if first == 0 else 0)
                return
            if self._timer() < self._paused_until:
                break  # the service does not take them: the rest would be refused as well
        self._since = end

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> bool:
        """``True`` when the batch is done with (accepted, or never to be accepted); ``False``: keep it."""
        try:
            async with asyncio.timeout(self._timeout):
                response = await client.post(self._url, json=body)
        except (TimeoutError, httpx.HTTPError):
            return False
        status = response.status_code
        if 200 <= status < 300:
            self.sent += 1
            return True
        if status in _NOT_KNOWN:
            self._paused_until = self._timer() + self._unknown_pause
            self._tell_once(
                "unknown",
                f"the admin service does not take fan-out insights (HTTP {status} to POST {INSIGHTS_PATH}); "
                f"asking again in {self._unknown_pause:g} s",
            )
            return True
        if status in (401, 403, 429) or status >= 500:
            return False
        self._tell_once(f"refused-{status}", f"the admin service refused fan-out insights: HTTP {status}")
        return True

    def _tell_once(self, problem: str, message: str) -> None:
        if problem not in self._told:
            self._told.add(problem)
            logger.info("hatchet-trace-flags: %s; tasks run as usual", message)

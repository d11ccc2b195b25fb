"""The follower's report task: every ``report_interval`` seconds (and at once when the worker applies a new
revision), ``POST /api/v1/tasks/seen`` with the action_ids evaluated since the last report, in batches;
once they are through, the fan-out summaries (``POST /api/v1/tasks/insights``, see ``_admin.insights``)
and, when due, the worker's report of itself (``POST /api/v1/workers/report``, see ``_admin.heartbeat``).

A refused token wakes the fetch (which tells whether it is refused everywhere) and backs the reports off as
long as the fetch's refusals; a failed or rate-limited report is put back and retried later, never sooner than
a ``Retry-After``. Nothing here ever touches a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable

import httpx

from hatchet_trace_flags._admin.heartbeat import WorkerHeartbeat
from hatchet_trace_flags._admin.insights import InsightReporter
from hatchet_trace_flags._admin.protocol import (
    Failed,
    FollowSettings,
    Sink,
    Unauthorized,
    backoff_delay,
    describe,
    is_action_id,
    refusal,
    retry_after_seconds,
)
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags._fanout.stats import summaries
from hatchet_trace_flags.contract import INSIGHTS_PATH, MAX_SEEN_PER_REPORT, SEEN_PATH

__all__ = ["Reports"]

logger = logging.getLogger("hatchet_trace_flags")


class Reports:
    def __init__(
        self, settings: FollowSettings, sink: Sink, seen: SeenTasks, *, wake_fetch: Callable[[], None]
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._seen = seen
        self._wake_fetch = wake_fetch
        base = settings.base_url.rstrip("/")
        self._seen_url = f"{base}{SEEN_PATH}"
        self.insights = InsightReporter(f"{base}{INSIGHTS_PATH}", summaries, timeout=settings.timeout)
        self.heartbeat = WorkerHeartbeat(base, sink, seen, timeout=settings.timeout)
        self._wake: asyncio.Event | None = None  # set when the applied revision changed
        self._hostname = socket.gethostname()
        self._report_problem: str | None = None
        self._retry_after: float | None = None

    def start(self) -> None:
        """Called on the follower's loop before anything else."""
        self._wake = asyncio.Event()

    def report_if_outdated(self) -> None:
        """A newly applied revision is reported at once (with whatever else waits to be reported)."""
        if self._wake is not None and self._settings.report_tasks and self.heartbeat.outdated():
            self._wake.set()

    async def run(self, client: httpx.AsyncClient, until_accepted: Callable[[], Awaitable[None]]) -> None:
        settings = self._settings
        assert self._wake is not None
        wake = self._wake
        failures = 0
        while True:
            if failures:
                await asyncio.sleep(self._backoff(failures, self._retry_after))
            else:
                delay = settings.report_interval * random.uniform(1 - settings.jitter, 1 + settings.jitter)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()
            wake.clear()
            await until_accepted()
            try:
                failures = await self._report_all(client, failures)
            except Exception:
                logger.exception("hatchet-trace-flags: reporting tasks failed")
                failures += 1

    async def _report_all(self, client: httpx.AsyncClient, failures: int) -> int:
        """Send every pending action_id; returns the new failure count."""
        size = min(self._settings.report_batch_size, MAX_SEEN_PER_REPORT)
        while batch := self._seen.take(size):
            action_ids = [action_id for action_id in batch if is_action_id(action_id)]
            if not action_ids:
                continue
            outcome = await self._report(client, action_ids)
            if outcome is None:
                self._seen.confirm(action_ids)
                continue
            if isinstance(outcome, Unauthorized):
                self._seen.requeue(action_ids)
                self._wake_fetch()  # the snapshot tells whether the token is refused everywhere
                self._note_report_problem(outcome.message)
                self._retry_after = self._refused_backoff(failures + 1, outcome.retry_after)
                return failures + 1
            if outcome.invalid:
                self._seen.confirm(action_ids)  # the service will not take these: do not insist
            else:
                self._seen.requeue(action_ids)
            self._note_report_problem(outcome.message)
            self._retry_after = outcome.retry_after  # a 429's Retry-After: never sooner
            return failures + 1
        self._report_problem = None
        self._retry_after = None
        await self.insights.send(client, self.worker_name())
        await self.heartbeat.send_if_due(client, self.worker_name())
        return 0

    async def _report(self, client: httpx.AsyncClient, action_ids: list[str]) -> Failed | Unauthorized | None:
        settings = self._settings
        where = f"the admin service at {settings.base_url}"
        worker = self.worker_name()
        self._sink.count_request("seen")
        try:
            async with asyncio.timeout(settings.timeout):
                response = await client.post(
                    self._seen_url, json={"worker": worker, "action_ids": action_ids}
                )
        except TimeoutError:
            return Failed(f"{where} did not acknowledge the task report within {settings.timeout:g} s")
        except httpx.HTTPError as error:
            return Failed(f"reporting tasks to {where} failed: {describe(error)}")
        status = response.status_code
        if 200 <= status < 300:
            return None
        if status in (401, 403):
            return Unauthorized(await refusal(response, where))
        # 4xx other than a rate limit: this report will never be accepted as it is.
        invalid = 400 <= status < 500 and status != 429
        return Failed(
            f"{where} answered HTTP {status} to POST {SEEN_PATH}",
            invalid=invalid,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )

    def worker_name(self) -> str:
        return self._settings.worker_name or f"{self._hostname}/{os.getpid()}"

    def _note_report_problem(self, message: str) -> None:
        if message != self._report_problem:
            self._report_problem = message
            logger.info("hatchet-trace-flags: %s; tasks run as usual, the report is retried", message)

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        settings = self._settings
        return backoff_delay(failures, settings.backoff_initial, settings.backoff_max, retry_after)

    def _refused_backoff(self, refusals: int, retry_after: float | None) -> float:
        settings = self._settings
        return backoff_delay(
            refusals, settings.refused_retry_initial, settings.refused_retry_max, retry_after
        )

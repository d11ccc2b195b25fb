"""The background half of :class:`~hatchet_trace_flags.AdminServiceProvider`: one daemon thread with its
own asyncio loop and ``httpx.AsyncClient``, talking to the admin service.

Three tasks run on that loop once the first snapshot attempt is over:

- **fetch**: ``GET /api/v1/snapshot`` with ``If-None-Match``, one request at a time. It runs when
  woken (a change event, a (re)connected or lost stream) and otherwise every ``poll_interval`` seconds
  while the stream is down, every ``resync_interval`` while it is up, both jittered. Failures back off
  exponentially with jitter, and never sooner than a ``Retry-After`` asked for.
- **stream**: ``GET /api/v1/events`` (Server-Sent Events). Each ``change``/``refetch`` event whose ETag
  differs from the one served wakes the fetch. A stream silent for longer than ``stream_idle_timeout``
  (the service sends a heartbeat every 15 s by default) counts as dead and is reconnected with backoff.
  Losing the stream wakes the fetch at once: whether *that* works is what tells "the service is gone"
  (STALE) from "only the stream is blocked" (keep polling).
- **report**: ``POST /api/v1/tasks/seen`` with the action_ids evaluated since the last report, in
  batches, every ``report_interval`` seconds; once they are through, the fan-out summaries
  (``POST /api/v1/tasks/insights``, see ``_admin.insights``) and, when due, this worker's report of
  itself (``POST /api/v1/workers/report``, see ``_admin.heartbeat``). A newly applied revision wakes
  this task at once. It lives in ``_admin.reports``.

401 or 403 to the snapshot marks the token refused: the stream and the reports pause, and the fetch keeps
asking with a long backoff (``refused_retry_initial`` 5 s doubling up to ``refused_retry_max`` 300 s, with
jitter, never sooner than a ``Retry-After``), so a token that is rotated, or a service that refused it for a
while, is followed again without restarting the worker. The first snapshot answer that is not a refusal
resumes everything. A refusal of the stream or of a report alone wakes the fetch (which tells whether the
token is really refused) and backs that task off just as long; like "lost", "refused" is the snapshot's
call.

The loop never touches the worker's event loop or threads; the task path only ever reads what this
loop last stored (the provider's rules) and queues action_ids for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time

import httpx
from httpx_sse import EventSource, SSEError

from hatchet_trace_flags._admin.protocol import (
    CONNECTION_DROPPED,
    MAX_SNAPSHOT_BYTES,
    Changed,
    Failed,
    FollowSettings,
    Outcome,
    Sink,
    TooLarge,
    Unauthorized,
    Unchanged,
    backoff_delay,
    describe,
    etag_of,
    read_bounded,
    refusal,
    retry_after_seconds,
    revision_of,
    store_of,
)
from hatchet_trace_flags._admin.reports import Reports
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags.contract import (
    DOCUMENT_VERSION_HEADER,
    EVENTS_PATH,
    SNAPSHOT_PATH,
    TIMED_DOCUMENT_VERSION,
    RulesError,
    RuleSet,
)

__all__ = ["Follower"]

logger = logging.getLogger("hatchet_trace_flags")


class Follower:
    def __init__(self, settings: FollowSettings, sink: Sink, seen: SeenTasks) -> None:
        self._settings = settings
        self._sink = sink
        self._seen = seen
        base = settings.base_url.rstrip("/")
        self._snapshot_url = f"{base}{SNAPSHOT_PATH}"
        self._events_url = f"{base}{EVENTS_PATH}"
        self._reports = Reports(settings, sink, seen, wake_fetch=self._wake_fetch)
        self._wake: asyncio.Event | None = None
        self._accepted: asyncio.Event | None = None  # cleared while the service refuses the token
        self._streaming = False

    # -- lifecycle -------------------------------------------------------------------------------------

    async def run(
        self,
        stop: asyncio.Event,
        first_attempt: threading.Event | None,
        init_returned: asyncio.Event,
    ) -> None:
        """Follow the service until ``stop`` is set.

        ``first_attempt`` (when given) is set once the first snapshot request has been dealt with; the
        tasks start only once ``init_returned`` is set, so that no event of ours is announced before
        OpenFeature has recorded the outcome of ``initialize``.
        """
        self._wake = asyncio.Event()
        self._reports.start()
        self._accepted = asyncio.Event()
        self._accepted.set()
        try:
            async with self._client() as client:
                work = asyncio.create_task(self._work(client, first_attempt, init_returned))
                stopper = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (work, stopper):
                        task.cancel()
                    await asyncio.gather(work, stopper, return_exceptions=True)
                if work.done() and not work.cancelled() and work.exception() is not None:
                    logger.error(
                        "hatchet-trace-flags: following the admin service failed",
                        exc_info=work.exception(),
                    )
        finally:
            if first_attempt is not None:
                first_attempt.set()

    def _client(self) -> httpx.AsyncClient:
        settings = self._settings
        # DOCUMENT_VERSION_HEADER: this library reads time-boxed settings (version-2 documents).
        headers = {
            "User-Agent": "hatchet-trace-flags",
            "Accept": "application/json",
            DOCUMENT_VERSION_HEADER: str(TIMED_DOCUMENT_VERSION),
        }
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token}"
        return httpx.AsyncClient(
            headers=headers,
            timeout=settings.timeout,
            verify=settings.verify,
            transport=settings.transport,
            follow_redirects=False,
        )

    async def _work(
        self,
        client: httpx.AsyncClient,
        first_attempt: threading.Event | None,
        init_returned: asyncio.Event,
    ) -> None:
        first_outcome: Outcome | None = None
        if first_attempt is not None:
            try:
                try:
                    first_outcome = await self._fetch(client, deadline=self._settings.startup_timeout)
                except Exception:  # a bug must not end the follower before it started
                    logger.exception("hatchet-trace-flags: fetching the first snapshot failed")
                    first_outcome = Failed("internal error")
                if isinstance(first_outcome, Unauthorized):
                    self._refused(first_outcome)
                else:
                    self._sink.snapshot_outcome(first_outcome, first=True)
                    self._reports.report_if_outdated()
            finally:
                first_attempt.set()
        await init_returned.wait()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch_loop(client, first_outcome))
            if self._settings.stream:
                group.create_task(self._stream_loop(client))
            if self._settings.report_tasks:
                group.create_task(self._reports.run(client, self._until_accepted))

    def _refused(self, outcome: Unauthorized) -> None:
        assert self._accepted is not None
        self._accepted.clear()
        self._sink.refused(outcome.message)

    async def _until_accepted(self) -> None:
        """Wait while the token is refused: only the fetch loop asks again, with its long backoff."""
        assert self._accepted is not None
        await self._accepted.wait()

    # -- fetch -----------------------------------------------------------------------------------------

    async def _fetch_loop(self, client: httpx.AsyncClient, first_outcome: Outcome | None) -> None:
        assert self._wake is not None
        wake = self._wake
        failures = 0
        refusals = 0
        not_before = 0.0
        if first_outcome is None:  # restarted after fork: look right away
            delay = 0.0
        elif isinstance(first_outcome, Unauthorized):
            refusals = 1
            delay = self._refused_backoff(refusals, first_outcome.retry_after)
            not_before = time.monotonic() + delay
        elif isinstance(first_outcome, Failed):
            failures = 1
            delay = self._backoff(failures, first_outcome.retry_after)
            not_before = time.monotonic() + delay
        else:
            delay = self._poll_delay()
        while True:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that coincides with the
            # wake-up, and a task group waiting for this task would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
            pause = not_before - time.monotonic()
            if pause > 0:  # woken early, but a backoff or Retry-After is still running
                await asyncio.sleep(pause)
            wake.clear()
            outcome: Outcome
            try:
                outcome = await self._fetch(client, deadline=self._settings.timeout)
                if isinstance(outcome, Unauthorized):
                    self._refused(outcome)
                else:
                    self._sink.snapshot_outcome(outcome, first=False)
                    self._reports.report_if_outdated()
                    if not isinstance(outcome, Failed):
                        assert self._accepted is not None
                        self._accepted.set()  # stream and reports resume
            except Exception:  # a bug must not end the follower: log it and try again later
                logger.exception("hatchet-trace-flags: fetching the snapshot failed")
                outcome = Failed("internal error")
            if isinstance(outcome, Unauthorized):
                refusals += 1
                delay = self._refused_backoff(refusals, outcome.retry_after)
                not_before = time.monotonic() + delay
                continue
            refusals = 0
            if isinstance(outcome, Failed):
                failures += 1
                delay = self._backoff(failures, outcome.retry_after)
                not_before = time.monotonic() + delay
            else:
                failures = 0
                not_before = 0.0
                delay = self._poll_delay()

    async def _fetch(self, client: httpx.AsyncClient, *, deadline: float) -> Outcome:
        where = f"the admin service at {self._settings.base_url}"
        try:
            async with asyncio.timeout(deadline):
                try:
                    return await self._fetch_once(client, where)
                except CONNECTION_DROPPED:
                    # Most often a kept-alive connection the service closed just as it was reused (an idle
                    # timeout, a restart): the request is idempotent, so once more on a fresh connection.
                    return await self._fetch_once(client, where)
        except TimeoutError:
            return Failed(f"{where} sent no complete snapshot within {deadline:g} s")
        except httpx.HTTPError as error:
            return Failed(f"{where} could not be reached: {describe(error)}")
        except TooLarge:
            return Failed(f"{where} sent a snapshot larger than {MAX_SNAPSHOT_BYTES} bytes", invalid=True)

    async def _fetch_once(self, client: httpx.AsyncClient, where: str) -> Outcome:
        headers: dict[str, str] = {}
        etag = self._sink.current_etag()
        if etag is not None:
            headers["If-None-Match"] = etag
        self._sink.count_request("snapshot")
        async with client.stream("GET", self._snapshot_url, headers=headers) as response:
            status = response.status_code
            revision = revision_of(response.headers)
            store = store_of(response.headers)
            if status == 304:
                return Unchanged(revision, store)
            if status in (401, 403):
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                return Unauthorized(await refusal(response, where), retry_after)
            if status != 200:
                return Failed(
                    f"{where} answered HTTP {status} to GET /api/v1/snapshot",
                    retry_after=retry_after_seconds(response.headers.get("retry-after")),
                )
            body = await read_bounded(response, MAX_SNAPSHOT_BYTES)
        try:
            rules = RuleSet.loads(body)
        except RulesError as error:
            return Failed(f"{where} sent an invalid snapshot: {error}", invalid=True)
        new_etag = response.headers.get("etag")
        return Changed(rules, new_etag if new_etag and new_etag.isprintable() else None, revision, store)

    def _poll_delay(self) -> float:
        settings = self._settings
        interval = settings.resync_interval if self._streaming else settings.poll_interval
        return interval * random.uniform(1 - settings.jitter, 1 + settings.jitter)

    def _refused_backoff(self, refusals: int, retry_after: float | None) -> float:
        settings = self._settings
        return backoff_delay(
            refusals, settings.refused_retry_initial, settings.refused_retry_max, retry_after
        )

    def _backoff(self, failures: int, retry_after: float | None = None) -> float:
        settings = self._settings
        return backoff_delay(failures, settings.backoff_initial, settings.backoff_max, retry_after)

    # -- stream ----------------------------------------------------------------------------------------

    async def _stream_loop(self, client: httpx.AsyncClient) -> None:
        failures = 0
        refusals = 0
        while True:
            await self._until_accepted()
            retry_after: float | None = None
            try:
                outcome = await self._stream_once(client)
            except Exception:
                logger.exception("hatchet-trace-flags: reading the event stream failed")
                outcome = Failed("internal error")
            was_connected = self._streaming
            self._streaming = False
            self._wake_fetch()  # is the service still there (and the token good), or only the stream gone?
            if isinstance(outcome, Unauthorized):
                self._sink.stream_state(False, outcome.message)
                refusals += 1
                await asyncio.sleep(self._refused_backoff(refusals, outcome.retry_after))
                continue
            refusals = 0
            if isinstance(outcome, Failed):
                retry_after = outcome.retry_after
                self._sink.stream_state(False, outcome.message)
            else:
                self._sink.stream_state(False, None)
            failures = 1 if was_connected else failures + 1
            await asyncio.sleep(self._backoff(failures, retry_after))

    async def _stream_once(self, client: httpx.AsyncClient) -> Failed | Unauthorized | None:
        """Read the stream until it ends (``None``) or fails."""
        settings = self._settings
        where = f"the admin service at {settings.base_url}"
        self._sink.count_request("events")
        timeout = httpx.Timeout(settings.timeout, read=settings.stream_idle_timeout)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        try:
            async with client.stream("GET", self._events_url, headers=headers, timeout=timeout) as response:
                status = response.status_code
                if status in (401, 403):
                    retry_after = retry_after_seconds(response.headers.get("retry-after"))
                    return Unauthorized(await refusal(response, where), retry_after)
                if status != 200:
                    return Failed(
                        f"{where} answered HTTP {status} to GET /api/v1/events",
                        retry_after=retry_after_seconds(response.headers.get("retry-after")),
                    )
                async for event in EventSource(response).aiter_sse():
                    if not self._streaming:
                        # The service's first message arrived: the stream really streams (a buffering
                        # proxy would have held it back). Catch up on what happened while we were away.
                        self._streaming = True
                        self._sink.stream_state(True, None)
                        self._wake_fetch()
                    if event.event in ("change", "refetch") and etag_of(event.data) != (
                        self._sink.current_etag() or ""
                    ):
                        self._wake_fetch()
        except httpx.ReadTimeout:
            return Failed(f"the event stream from {where} was silent for {settings.stream_idle_timeout:g} s")
        except SSEError as error:
            return Failed(f"{where} did not answer GET /api/v1/events with an event stream: {error}")
        except httpx.HTTPError as error:
            return Failed(f"the event stream from {where} failed: {describe(error)}")
        return None

    def _wake_fetch(self) -> None:
        if self._wake is not None:
            self._wake.set()

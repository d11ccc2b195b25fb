"""The rule set this process serves from memory, kept in step with the database, and the
subscribers of the change stream.

Every change has a revision and an audit row. After a local write, on a PostgreSQL NOTIFY from any
replica, and every ``resync_seconds`` as a safety net, :meth:`ChangeFeed.sync` reads the revision;
when it moved, it loads the new rule set and the audit rows in between, swaps the snapshot and
hands the events to the subscribers in revision order.

Heartbeats come from here too: one timer for every stream, which offers a :data:`HEARTBEAT` to each
idle one, instead of a timeout per stream re-armed after every event (with 2,000 followers that was
2,000 timers rescheduled per change; issue 23).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import asyncpg  # type: ignore[import-untyped]

from hatchet_trace_flags_server.core.ratelimit import RateLimited
from hatchet_trace_flags_server.core.records import ChangeEvent, RulesSnapshot
from hatchet_trace_flags_server.store.database import NOTIFY_CHANNEL
from hatchet_trace_flags_server.store.rules.reads import RuleQueries

__all__ = ["HEARTBEAT", "ChangeFeed", "Heartbeat", "Refetch", "Subscription"]

logger = logging.getLogger("hatchet_trace_flags_server")

# More missed events than this and a subscriber is told to refetch instead of replaying them.
REPLAY_LIMIT: Final = 500
_QUEUE_SIZE: Final = 256
# What a client refused a stream is told to wait before trying again.
_STREAM_RETRY_AFTER: Final = 10
# Capped at 1 s: once the database is back, the other replicas hear of changes within a second.
_LISTEN_RETRY_SECONDS: Final = (0.25, 0.5, 1.0)
_LISTEN_CONNECT_TIMEOUT_SECONDS: Final = 2.0
# A frozen server never closes the LISTEN connection: probe it, and drop it when it stops answering.
_LISTEN_PROBE_SECONDS: Final = 5.0
_LISTEN_PROBE_TIMEOUT_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class Refetch:
    """Tells a subscriber that events were lost: re-read the snapshot."""

    revision: int
    etag: str


class Heartbeat:
    """Tells an idle subscriber to send a heartbeat (keeps proxies from closing the stream)."""


HEARTBEAT: Final = Heartbeat()

StreamItem = ChangeEvent | Refetch | Heartbeat | None  # None: the server is shutting down


class Subscription:
    """One stream's items, in order. A deque and the reader's one future rather than an
    ``asyncio.Queue``: a change is offered to every stream in one loop (2,000 of them), and the
    queue's bookkeeping (task counts, its ``Event``, the getters' deque) was a fifth of the fan-out."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._items: deque[StreamItem] = deque()
        self._reader: asyncio.Future[None] | None = None

    @property
    def idle(self) -> bool:
        return not self._items

    def offer(self, item: StreamItem, fallback: Callable[[], Refetch]) -> None:
        if len(self._items) >= _QUEUE_SIZE:
            # A stalled reader: drop what it has not read and tell it to start over.
            self._items.clear()
            item = fallback() if item is not None else None
        self._items.append(item)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def next(self) -> StreamItem:
        """The next item, waiting for it (one reader at a time)."""
        while not self._items:
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        return self._items.popleft()


class ChangeFeed:
    def __init__(
        self,
        queries: RuleQueries,
        *,
        resync_seconds: float,
        listen_dsn: str | None,
        on_snapshot: Callable[[RulesSnapshot], None] = lambda _snapshot: None,
        max_streams: int = 5_000,
        max_streams_per_owner: int = 2_500,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._heartbeat_seconds = heartbeat_seconds
        self._max_streams = max_streams
        self._max_per_owner = max_streams_per_owner
        self._per_owner: dict[str, int] = {}
        self._queries = queries
        self._resync_seconds = resync_seconds
        self._listen_dsn = listen_dsn
        self._on_snapshot = on_snapshot
        self._snapshot: RulesSnapshot | None = None
        self._subscribers: set[Subscription] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.listening = asyncio.Event()

    @property
    def snapshot(self) -> RulesSnapshot:
        if self._snapshot is None:
            raise RuntimeError("the change feed has not started")
        return self._snapshot

    @property
    def latest(self) -> RulesSnapshot | None:
        """The snapshot served, ``None`` before the feed started. This feed is its one owner."""
        return self._snapshot

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._set_snapshot(await self._queries.load_snapshot())
        self._tasks.append(asyncio.create_task(self._sync_loop(), name="rules-sync"))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="stream-heartbeats"))
        if self._listen_dsn is not None:
            self._tasks.append(asyncio.create_task(self._listen_loop(self._listen_dsn), name="rules-listen"))

    async def stop(self) -> None:
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def close_streams(self) -> None:
        """End every open event stream (called when the server starts shutting down)."""
        self._closed = True
        for subscription in self._subscribers:
            subscription.offer(None, self._refetch)

    def subscribe(self, owner: str) -> Subscription:
        """A new subscriber for ``owner`` (a token name); :class:`RateLimited` past the caps."""
        if len(self._subscribers) >= self._max_streams:
            raise RateLimited("open event streams on this server", _STREAM_RETRY_AFTER)
        if self._per_owner.get(owner, 0) >= self._max_per_owner:
            raise RateLimited(f"open event streams for {owner!r}", _STREAM_RETRY_AFTER)
        subscription = Subscription(owner)
        if self._closed:
            subscription.offer(None, self._refetch)
        self._subscribers.add(subscription)
        self._per_owner[owner] = self._per_owner.get(owner, 0) + 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Idempotent: the stream's end and the response's end may both call it."""
        if subscription not in self._subscribers:
            return
        self._subscribers.discard(subscription)
        left = self._per_owner[subscription.owner] - 1
        if left:
            self._per_owner[subscription.owner] = left
        else:
            del self._per_owner[subscription.owner]

    def poke(self) -> None:
        """Something changed somewhere: sync soon."""
        self._wake.set()

    async def sync(self) -> None:
        async with self._lock:
            current = self.snapshot
            revision = await self._queries.current_revision()
            if revision == current.revision:
                return
            if revision < current.revision:
                # The database went back in time (restored from a backup): nothing to replay.
                self._set_snapshot(await self._queries.load_snapshot())
                self._publish_all(self._refetch())
                return
            # Snapshot first: every event up to its revision committed with it, so none is missing.
            snapshot = await self._queries.load_snapshot()
            events = await self._queries.events_after(current.revision, limit=REPLAY_LIMIT)
            self._set_snapshot(snapshot)
            contiguous = [event for event in events if event.revision <= snapshot.revision]
            expected = list(range(current.revision + 1, snapshot.revision + 1))
            if [event.revision for event in contiguous] != expected:
                self._publish_all(self._refetch())
                return
            for event in contiguous:
                self._publish_all(event)

    async def apply_local(self, event: ChangeEvent | None, snapshot: RulesSnapshot | None) -> None:
        """Publish a change this process just committed, without a database round trip when
        nothing else happened in between."""
        if event is None or snapshot is None:
            return
        async with self._lock:
            if snapshot.revision == self.snapshot.revision + 1:
                self._set_snapshot(snapshot)
                self._publish_all(event)
                return
        if snapshot.revision > self.snapshot.revision:
            await self.sync()

    def _set_snapshot(self, snapshot: RulesSnapshot) -> None:
        self._snapshot = snapshot
        self._on_snapshot(snapshot)

    def _refetch(self) -> Refetch:
        return Refetch(self.snapshot.revision, self.snapshot.etag)

    def _publish_all(self, item: ChangeEvent | Refetch) -> None:
        for subscription in self._subscribers:
            subscription.offer(item, self._refetch)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            for subscription in self._subscribers:
                # Only idle ones: an event on its way says as much, and a stalled reader's full
                # queue must not be turned into a refetch by heartbeats.
                if subscription.idle:
                    subscription.offer(HEARTBEAT, self._refetch)

    async def _sync_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._resync_seconds)
            self._wake.clear()
            try:
                await self.sync()
            except Exception:
                logger.warning("rule-set sync failed; retrying", exc_info=True)

    async def _listen_loop(self, dsn: str) -> None:
        attempt = 0
        while True:
            try:
                await self._listen_once(dsn)
                attempt = 0
                logger.warning("LISTEN connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("cannot LISTEN for changes (%s); retrying", type(error).__name__)
            await asyncio.sleep(_LISTEN_RETRY_SECONDS[min(attempt, len(_LISTEN_RETRY_SECONDS) - 1)])
            attempt += 1

    async def _listen_once(self, dsn: str) -> None:
        """Listen until the connection drops."""
        connection = await asyncpg.connect(dsn, timeout=_LISTEN_CONNECT_TIMEOUT_SECONDS)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_args: self.poke())
            self.listening.set()
            self.poke()  # catch up on whatever happened while not listening
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=_LISTEN_PROBE_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=_LISTEN_PROBE_TIMEOUT_SECONDS)
        finally:
            self.listening.clear()
            if not connection.is_closed():
                # terminate(), not close(): close() waits for a frozen server to answer.
                connection.terminate()

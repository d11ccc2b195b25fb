"""The thread that follows the admin service for one :class:`~hatchet_trace_flags.AdminServiceProvider`:
a daemon thread with its own asyncio loop running a :class:`~hatchet_trace_flags._admin.follow.Follower`,
started lazily, stopped and joined on shutdown, replaced after fork."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable

from hatchet_trace_flags._admin.follow import Follower
from hatchet_trace_flags._admin.protocol import FollowSettings, Sink
from hatchet_trace_flags._admin.seen import SeenTasks

__all__ = ["FollowerThread"]

logger = logging.getLogger("hatchet_trace_flags")


class FollowerThread:
    """One run of the follower: a daemon thread with its own event loop."""

    def __init__(
        self,
        settings: FollowSettings,
        sink: Sink,
        seen: SeenTasks | None,
        *,
        first_attempt: bool,
        on_exit: Callable[[], None],
    ) -> None:
        self.first_attempt = threading.Event()
        self._wants_first_attempt = first_attempt
        self._settings = settings
        self._sink = sink
        self._seen = seen
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._init_returned: asyncio.Event | None = None
        self._stopping = False
        self._initialize_returned = False
        self._thread = threading.Thread(
            target=self._main, name=f"hatchet-trace-flags-admin[{settings.base_url}]", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def initialize_returned(self) -> None:
        """Lets the follower go on: OpenFeature records initialize's outcome right after it returns."""
        with self._lock:
            self._initialize_returned = True
            self._signal(self._init_returned)

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._stopping = True
            self._signal(self._stop)
        if self._thread is not threading.current_thread() and self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "hatchet-trace-flags: the admin service thread did not stop within %g s", timeout
                )

    def _signal(self, event: asyncio.Event | None) -> None:
        # Holds _lock. The loop may be closing: then the thread is finishing on its own.
        if self._loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(event.set)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            logger.exception("hatchet-trace-flags: the admin service thread crashed")
        finally:
            self.first_attempt.set()

    async def _run(self) -> None:
        stop, init_returned = asyncio.Event(), asyncio.Event()
        with self._lock:
            if self._stopping:
                return
            if self._initialize_returned:
                init_returned.set()
            self._loop, self._stop, self._init_returned = asyncio.get_running_loop(), stop, init_returned
        seen = self._seen if self._seen is not None else SeenTasks(refresh=math.inf)
        follower = Follower(self._settings, self._sink, seen)
        try:
            await follower.run(stop, self.first_attempt if self._wants_first_attempt else None, init_returned)
        finally:
            self._on_exit()
            with self._lock:
                self._loop = self._stop = self._init_returned = None

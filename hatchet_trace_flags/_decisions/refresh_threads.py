"""Daemon threads that run a predicate's background refreshes (providers that may do I/O)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RefreshThreads", "join_threads"]

logger = logging.getLogger("hatchet_trace_flags")

_STOP: Final = object()


class RefreshThreads:
    """A couple of daemon threads running refresh jobs, started on first use.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a provider stuck in I/O
    would hang the worker's shutdown. The queue is unbounded here because the predicate bounds outstanding
    jobs itself. The predicate's lock guards ``start``, ``stop`` and ``forget_after_fork``.
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        self._threads = [
            threading.Thread(
                target=self._run, args=(self._jobs,), name=f"hatchet-trace-flags-refresh-{index}", daemon=True
            )
            for index in range(self._count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def stop(self) -> list[threading.Thread]:
        """Ask the threads to finish (after the jobs already queued); returns them for joining."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(_STOP)
        self._jobs = queue.SimpleQueue()
        return threads

    def forget_after_fork(self) -> None:
        self._threads, self._jobs = [], queue.SimpleQueue()

    @staticmethod
    def _run(jobs: queue.SimpleQueue[object]) -> None:
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            try:
                assert callable(job)
                job()
            except Exception:  # a refresh must never take its thread down
                logger.exception("hatchet-trace-flags: a background refresh failed")
            del job  # an idle thread must not keep the last job's predicate alive


def join_threads(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

"""A loop a service runs beside the requests, for as long as the app's lifespan lasts.

The expiry clock, the mode keeper and the retention sweep each run one; this is their start and stop,
written once: ``start`` creates the task (once), ``stop`` cancels it and waits for it to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import ClassVar

__all__ = ["BackgroundLoop"]


class BackgroundLoop(ABC):
    #: The asyncio task's name, as tracebacks and ``asyncio.all_tasks()`` show it.
    task_name: ClassVar[str]
    _task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @abstractmethod
    async def _loop(self) -> None: ...

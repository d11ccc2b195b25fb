"""Wait for a condition the server reaches on its own (a background sweep, a closed stream)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str) -> None:
    """Re-check ``condition`` (each check is a real request or read) until it holds, or fail."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.02)


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0, what: str) -> None:
    """The synchronous :func:`until`, for tests that drive the server with sync clients."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)

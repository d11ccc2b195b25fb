"""The one way tests wait: re-check a condition until it holds, or fail naming what did not happen.

``within`` is not a timing assertion: it only bounds a test that is failing anyway, so it is generous
(a loaded 2-core machine takes seconds for what a quiet one does in milliseconds). Nothing here proves
that something did *not* happen: a test that needs that sends a sentinel after the thing that must
have no effect and waits for the sentinel (the stream, the queue or the log is ordered).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Final

__all__ = ["DEFAULT_WITHIN", "until", "wait_until"]

DEFAULT_WITHIN: Final = 30.0
# Short enough not to add latency worth measuring, long enough not to starve the thread or the
# server that is to make the condition true.
_INTERVAL: Final = 0.01

Description = str | Callable[[], object] | None


def _failure(what: Description, where: str, within: float) -> AssertionError:
    if what is None:
        subject = f"the condition waited for at {where}"
    elif callable(what):
        subject = f"{where}: {what()}"
    else:
        subject = what
    return AssertionError(f"{subject}: not within {within:g} s")


def _caller() -> str:
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def wait_until(
    condition: Callable[[], object], *, within: float = DEFAULT_WITHIN, what: Description = None
) -> None:
    """Re-check ``condition`` until it is true; fail after ``within`` seconds. ``what`` names what is
    waited for in the failure (a callable is called then, so it can show the state at that moment)."""
    where = _caller()
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise _failure(what, where, within)
        time.sleep(_INTERVAL)


async def until(
    condition: Callable[[], object | Awaitable[object]],
    *,
    within: float = DEFAULT_WITHIN,
    what: Description = None,
) -> None:
    """:func:`wait_until` for a test on the event loop: ``condition`` may be a coroutine function
    (each check a real request or read), and the loop keeps running between checks."""
    where = _caller()
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise _failure(what, where, within)
        await asyncio.sleep(_INTERVAL)

"""Per-token rate limits (token buckets), answered with 429 and ``Retry-After``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import PROBLEM_MEDIA_TYPE, problem_body
from .tokens import TokenRegistry

__all__ = ["RateLimited", "RateLimiter", "ReportGate"]

# Bucket states kept; the key space is the configured tokens, so this only guards against misuse.
_MAX_KEYS: Final = 10_000


class RateLimited(Exception):
    """Over the limit: retry after ``retry_after`` whole seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}; retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """``rate`` units per second per key, up to ``burst`` at once. Single event loop: no lock."""

    def __init__(
        self, *, rate: float, burst: int, what: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._what = what
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        # A key told to retry after some time is refused until then without further work: a client
        # that ignores Retry-After costs one dictionary lookup per request (see ReportGate).
        self._blocked: dict[str, float] = {}

    def take(self, key: str, cost: int) -> None:
        """Spend ``cost`` units of ``key``'s bucket or raise :class:`RateLimited` (spending nothing)."""
        self.check(key)
        now = self._clock()
        tokens, when = self._buckets.get(key, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - when) * self._rate)
        cost = min(cost, self._burst)  # a request larger than the burst waits for a full bucket
        if len(self._buckets) >= _MAX_KEYS and key not in self._buckets:
            self._buckets.clear()
            self._blocked.clear()
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            wait = max(1, math.ceil((cost - tokens) / self._rate))
            self._blocked[key] = now + wait
            raise RateLimited(self._what, wait)
        self._buckets[key] = (tokens - cost, now)

    def check(self, key: str) -> None:
        """:class:`RateLimited` while ``key`` is still asked to wait."""
        until = self._blocked.get(key)
        if until is None:
            return
        left = until - self._clock()
        if left <= 0:
            del self._blocked[key]
            return
        raise RateLimited(self._what, max(1, math.ceil(left)))


class ReportGate:
    """Refuses ``POST`` to any of ``paths`` from a token that was told to wait, before its body is
    read or parsed: a flood that ignores Retry-After then costs the service next to nothing."""

    def __init__(
        self, app: ASGIApp, *, paths: Collection[str], limiter: RateLimiter, tokens: TokenRegistry
    ) -> None:
        self.app = app
        self._paths = frozenset(paths)
        self._limiter = limiter
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._paths:
            presented = _presented_token(scope["headers"])
            identity = self._tokens.identify(presented) if presented else None
            if identity is not None:
                try:
                    self._limiter.check(identity.name)
                except RateLimited as limited:
                    await _refuse(send, limited)
                    return
        await self.app(scope, receive, send)


def _presented_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                return credentials.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, limited: RateLimited) -> None:
    body = problem_body(429, str(limited))
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(limited.retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

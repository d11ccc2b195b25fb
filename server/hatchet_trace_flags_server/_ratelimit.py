"""Per-token rate limits (token buckets), answered with 429 and ``Retry-After``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RateLimited", "RateLimiter"]

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

    def take(self, key: str, cost: int) -> None:
        """Spend ``cost`` units of ``key``'s bucket or raise :class:`RateLimited` (spending nothing)."""
        now = self._clock()
        tokens, when = self._buckets.get(key, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - when) * self._rate)
        cost = min(cost, self._burst)  # a request larger than the burst waits for a full bucket
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            raise RateLimited(self._what, max(1, math.ceil((cost - tokens) / self._rate)))
        if len(self._buckets) >= _MAX_KEYS and key not in self._buckets:
            self._buckets.clear()
        self._buckets[key] = (tokens - cost, now)

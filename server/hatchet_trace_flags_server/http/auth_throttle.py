"""Throttling of failed authentication: per client address and for the whole process.

Every wrong token (API bearer or X-API-Key, dashboard sign-in) spends from two token buckets: the
client's and a global one. A client whose bucket is empty gets 429 + Retry-After for everything
that needs a token, before its token is even looked at, until the wait is over. When the global
bucket is empty (a guess spread over many addresses), every *wrong* token gets 429 instead of 401
until it refills; right tokens keep working, so workers are not locked out by someone else's
flood. Guessing is hopeless anyway (tokens are 24+ characters); this bounds the work and the log.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import HTTPConnection

from hatchet_trace_flags_server.core.ratelimit import RateLimiter

__all__ = ["AuthThrottle", "client_address"]

_ALL: Final = "*"
_WHAT: Final = "failed authentication attempts"


def client_address(connection: HTTPConnection) -> str:
    """The client's address: the peer's, or behind trusted proxies the ``X-Forwarded-For`` entry
    that :mod:`.forwarded` chose (never one the client can write itself)."""
    return connection.client.host if connection.client is not None else "unknown"


class AuthThrottle:
    def __init__(self, *, per_client_rate: float, per_client_burst: int, rate: float, burst: int) -> None:
        self._clients = RateLimiter(rate=per_client_rate, burst=per_client_burst, what=_WHAT)
        self._overall = RateLimiter(rate=rate, burst=burst, what=_WHAT)

    def check(self, client: str) -> None:
        """:class:`RateLimited` while ``client`` must wait; call before looking at its token."""
        self._clients.check(client)

    def failed(self, client: str) -> None:
        """Count a wrong token: :class:`RateLimited` when the client's or the global budget is
        used up (this attempt then answers 429 instead of 401)."""
        self._clients.take(client, 1)
        self._overall.take(_ALL, 1)

"""The client's address and scheme behind proxies, chosen so that a client cannot pick its address.

A proxy appends the address it received a request from to ``X-Forwarded-For``; whatever the client
wrote itself stays on the LEFT. So the entry to believe is counted from the RIGHT: when the direct
peer is a trusted proxy (``FORWARDED_ALLOW_IPS``), skip the ``FORWARDED_HOPS - 1`` entries that the
proxies further out appended, then any entry that is itself a listed proxy address; the first other
entry is the client. With ``FORWARDED_ALLOW_IPS=*`` no entry is known as a proxy by address, so the
hop count alone decides (1: the right-most entry, the one the single proxy in front wrote).

uvicorn's own proxy handling takes the LEFT-most entry under ``*`` (issue 27: 21 wrong tokens sent
with ``X-Forwarded-For: <victim>, <attacker>`` throttled the victim), so the runner turns it off and
this middleware, outermost in the app, sets ``scope["client"]`` and ``scope["scheme"]`` instead:
throttling, the access log, Secure cookies and the Origin check all see its result.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ForwardedHeaders", "TrustedProxies"]

_SCHEMES: Final = frozenset({"http", "https"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """``FORWARDED_ALLOW_IPS``: comma-separated addresses or networks, or ``*`` for any peer."""

    def __init__(self, spec: str) -> None:
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        self.any_peer = "*" in entries
        self._networks: list[IPNetwork] = []
        self._literals: set[str] = set()  # e.g. a unix socket's name
        for entry in entries:
            if entry == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._literals.add(entry)

    def listed(self, host: str) -> bool:
        """Whether ``host`` is named in the list (``*`` names no address)."""
        if host in self._literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def trusts_peer(self, host: str | None) -> bool:
        return self.any_peer or (host is not None and self.listed(host))


def _host_of(entry: str) -> str:
    """``203.0.113.9``, ``203.0.113.9:4711``, ``[2001:db8::1]:4711`` or ``2001:db8::1`` -> the address."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def client_from_forwarded_for(entries: list[str], proxies: TrustedProxies, hops: int) -> str | None:
    """The client's address from a trusted peer's ``X-Forwarded-For`` entries (left to right)."""
    hosts = [_host_of(entry) for entry in entries]
    if not hosts:
        return None
    for position, host in enumerate(reversed(hosts), start=1):
        if position < hops:
            continue  # appended by a proxy further out that we were told is there
        if not proxies.listed(host):
            return host
    return hosts[0]  # every entry is a proxy: the client is a proxy itself


def _header_entries(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    entries: list[str] = []
    for key, value in headers:
        if key == name:
            entries += [entry.strip() for entry in value.decode("latin-1").split(",")]
    return [entry for entry in entries if entry]


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, *, allow_ips: str, hops: int) -> None:
        self.app = app
        self._proxies = TrustedProxies(allow_ips)
        self._hops = hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if self._proxies.trusts_peer(peer[0] if peer else None):
                headers = scope["headers"]
                client = client_from_forwarded_for(
                    _header_entries(headers, b"x-forwarded-for"), self._proxies, self._hops
                )
                if client is not None:
                    scope["client"] = (client, 0)
                # The nearest proxy's value (the right-most): it terminated TLS, or did not.
                schemes = _header_entries(headers, b"x-forwarded-proto")
                if schemes and schemes[-1].lower() in _SCHEMES and scope["type"] == "http":
                    scope["scheme"] = schemes[-1].lower()
        await self.app(scope, receive, send)

"""Dashboard sign-in sessions and CSRF protection.

Signing in with a token sets one cookie, ``htf_session``: ``HttpOnly``, ``SameSite=Strict``,
``Secure`` when the request came over HTTPS, valid for :data:`SESSION_LIFETIME`. It holds
``{key id}.{expiry}.{nonce}.{signature}`` and never the token: the signing key is derived from the
token (HMAC-SHA256 over a fixed label, keyed with the token's SHA-256), the signature is
itsdangerous' (HMAC-SHA256, its own key derivation with a salt per use), and the key id names which
configured token that was. So

- every replica that is configured with the same tokens accepts the session, with no shared state
  and no extra secret to configure;
- removing or rotating a token ends all of its sessions at once; changing its scope or name takes
  effect on the next request (the identity comes from the token configuration, not the cookie);
- the audit log records the token's *name* as the actor.

Each session also has a row on the server (``store.sessions``): signing out deletes it, so a copied
cookie stops working at once on every replica, and a session unused for ``SESSION_IDLE_SECONDS``
ends. A token keeps at most ``MAX_SESSIONS_PER_TOKEN`` sessions (its least recently used ones end
first), so signing in again and again cannot grow the table. Rotating a token still ends every
session made with it.

CSRF: each session has its own CSRF token (an HMAC of the session nonce). Every state-changing
request authenticated by the cookie must carry it, in the ``X-CSRF-Token`` header (the dashboard's
scripts and the JSON API) or the ``csrf_token`` form field (plain HTML forms). The sign-in form, which
has no session yet, uses a double-submit cookie (``htf_signin``) instead. ``SameSite=Strict`` alone
is not enough: another port on the same host is the same *site* and gets the cookie sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from fastapi import Request, Response, status
from itsdangerous import BadSignature, Signer

from hatchet_trace_flags_server.core.tokens import Identity, TokenRegistry
from hatchet_trace_flags_server.store.sessions import SessionStore

from .auth import AuthError

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "SIGN_IN_COOKIE",
    "Session",
    "SessionKeys",
    "is_cross_origin",
    "is_unsafe_method",
]

SESSION_COOKIE: Final = "htf_session"
SIGN_IN_COOKIE: Final = "htf_signin"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SESSION_LIFETIME: Final = timedelta(hours=12)
SIGN_IN_FORM_LIFETIME: Final = timedelta(hours=1)

_KEY_LABEL: Final = b"hatchet-trace-flags/dashboard-session/v1"
# itsdangerous salts: the same key signs cookies and derives CSRF tokens, never interchangeably.
# Cookies signed by hand before (issue 27) do not verify: upgrading signs everyone out once.
_COOKIE_SALT: Final = "hatchet-trace-flags/dashboard-session-cookie/v2"
_CSRF_SALT: Final = "hatchet-trace-flags/dashboard-csrf/v2"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_COOKIE_LENGTH: Final = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def is_unsafe_method(method: str) -> bool:
    return method.upper() not in _SAFE_METHODS


def is_cross_origin(request: Request) -> bool:
    """A second line behind the CSRF token: a browser names the page a write came from in
    ``Origin`` (and ``Sec-Fetch-Site``); one from another origin is refused even with a valid
    token. Requests without either header (CLI, scripts) are left to the CSRF token alone. The
    expected origin is this request's own scheme and host, as seen through trusted proxies."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.lower().rstrip("/") != own.lower()


def _signer(secret: bytes, salt: str) -> Signer:
    return Signer(secret, salt=salt, sep=".", key_derivation="hmac", digest_method=hashlib.sha256)


@dataclass(frozen=True, slots=True)
class _SigningKey:
    key_id: str
    identity: Identity
    cookies: Signer
    csrf: Signer


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: who, until when, and the CSRF token its forms must carry."""

    identity: Identity
    expires_at: int  # Unix time
    csrf_token: str
    # Names the session's row on the server (a hash of the cookie's nonce, never the nonce).
    session_id: str = ""

    def check_csrf(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def _signing_key(token_digest: bytes, identity: Identity) -> _SigningKey:
    secret = hmac.new(token_digest, _KEY_LABEL, hashlib.sha256).digest()
    key_id = _b64(hmac.new(secret, b"key-id", hashlib.sha256).digest()[:12])
    return _SigningKey(key_id, identity, _signer(secret, _COOKIE_SALT), _signer(secret, _CSRF_SALT))


class SessionKeys:
    """Issues and verifies session cookies for the tokens a :class:`TokenRegistry` accepts."""

    def __init__(
        self, tokens: TokenRegistry, store: SessionStore | None = None, *, max_per_token: int = 20
    ) -> None:
        self._tokens = tokens
        self.store = store
        self.max_per_token = max_per_token
        self._by_id: dict[str, _SigningKey] = {}
        for token_digest, identity in tokens.digests():
            key = _signing_key(token_digest, identity)
            self._by_id[key.key_id] = key

    # ----------------------------------------------------------------- sessions

    def sign_in(self, token: str, *, now: float | None = None) -> tuple[Session, str] | None:
        """The session and its cookie value for a valid token, else ``None``."""
        identity = self._tokens.identify(token)
        if identity is None:
            return None
        key = _signing_key(hashlib.sha256(token.encode()).digest(), identity)
        # Keys are made from the registry when these keys are built; a token registered after that
        # (none today) gets its key at its first sign-in.
        self._by_id.setdefault(key.key_id, key)
        expires_at = int((time.time() if now is None else now) + SESSION_LIFETIME.total_seconds())
        nonce = secrets.token_urlsafe(16)
        cookie = key.cookies.sign(f"{key.key_id}.{expires_at}.{nonce}").decode()
        return self._session(key, expires_at, nonce), cookie

    def verify(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie value stands for, or ``None`` (tampered, expired, token removed)."""
        if not cookie or len(cookie) > _MAX_COOKIE_LENGTH:
            return None
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        key_id, expiry, nonce, _signature = parts
        key = self._by_id.get(key_id)
        if key is None or not expiry.isdigit():
            return None
        try:
            key.cookies.unsign(cookie)  # compares in constant time
        except BadSignature:
            return None
        expires_at = int(expiry)
        if expires_at <= (time.time() if now is None else now):
            return None
        return self._session(key, expires_at, nonce)

    def _session(self, key: _SigningKey, expires_at: int, nonce: str) -> Session:
        csrf = key.csrf.get_signature(nonce).decode()
        return Session(key.identity, expires_at, csrf, hashlib.sha256(nonce.encode()).hexdigest())

    # ----------------------------------------------------------------- server-side sessions

    async def start(self, token: str) -> tuple[Session, str] | None:
        """:meth:`sign_in`, and the session's row on the server."""
        issued = self.sign_in(token)
        if issued is not None and self.store is not None:
            session = issued[0]
            await self.store.start(
                session.session_id, session.identity.name, session.expires_at, keep=self.max_per_token
            )
        return issued

    async def current(self, cookie: str | None) -> Session | None:
        """The session of a cookie that is validly signed *and* still exists on the server."""
        session = self.verify(cookie)
        if session is None or self.store is None:
            return session
        return session if await self.store.is_live(session.session_id) else None

    async def end(self, session: Session) -> None:
        if self.store is not None:
            await self.store.end(session.session_id)

    # ----------------------------------------------------------------- cookies

    @staticmethod
    def set_session_cookie(response: Response, request: Request, value: str) -> None:
        set_strict_cookie(response, request, SESSION_COOKIE, value, lifetime=SESSION_LIFETIME)

    @staticmethod
    def clear_session_cookie(response: Response, request: Request) -> None:
        clear_strict_cookie(response, request, SESSION_COOKIE)

    @staticmethod
    def new_sign_in_nonce() -> str:
        """A fresh double-submit value for the sign-in form (see :meth:`set_sign_in_cookie`)."""
        return secrets.token_urlsafe(24)

    @staticmethod
    def set_sign_in_cookie(response: Response, request: Request, nonce: str) -> None:
        set_strict_cookie(response, request, SIGN_IN_COOKIE, nonce, lifetime=SIGN_IN_FORM_LIFETIME)

    @staticmethod
    def clear_sign_in_cookie(response: Response, request: Request) -> None:
        clear_strict_cookie(response, request, SIGN_IN_COOKIE)

    @staticmethod
    def check_sign_in_nonce(request: Request, presented: str | None) -> bool:
        expected = request.cookies.get(SIGN_IN_COOKIE)
        return bool(expected and presented) and hmac.compare_digest(
            str(presented).encode(), str(expected).encode()
        )

    # ----------------------------------------------------------------- the API

    async def resolve(self, request: Request) -> Identity | None:
        """Identity resolver for the JSON API: the session cookie, with the CSRF header on writes."""
        session = await self.current(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        if is_unsafe_method(request.method) and is_cross_origin(request):
            raise AuthError(status.HTTP_403_FORBIDDEN, "Origin check failed: a write from another site")
        if is_unsafe_method(request.method) and not session.check_csrf(request.headers.get(CSRF_HEADER)):
            raise AuthError(
                status.HTTP_403_FORBIDDEN,
                f"CSRF check failed: a request signed in by the dashboard cookie must send {CSRF_HEADER}",
            )
        return session.identity


def set_strict_cookie(
    response: Response, request: Request, name: str, value: str, *, lifetime: timedelta
) -> None:
    """Every dashboard cookie: HttpOnly, SameSite=Strict, whole site, Secure whenever served over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_strict_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )

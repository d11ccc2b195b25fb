"""Session cookies: signed, token-free, bound to the token configuration; CSRF tokens per session."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from hatchet_trace_flags_server.core.tokens import Identity, TokenRegistry
from hatchet_trace_flags_server.http.sessions import SESSION_LIFETIME, SessionKeys

ALICE = "alice-admin-secret"
BOB = "bob-admin-secret"
WORKER = "worker-read-secret"


def registry(**scopes: list[tuple[str, str]]) -> TokenRegistry:
    return TokenRegistry(scopes)  # type: ignore[arg-type]


@pytest.fixture
def tokens() -> TokenRegistry:
    return registry(admin=[("alice", ALICE), ("bob", BOB)], read=[("worker", WORKER)])


@pytest.fixture
def keys(tokens: TokenRegistry) -> SessionKeys:
    return SessionKeys(tokens)


def test_a_session_names_the_token_owner_and_never_holds_the_token(keys: SessionKeys) -> None:
    issued = keys.sign_in(ALICE)
    assert issued is not None
    session, cookie = issued
    assert session.identity == Identity("alice", "admin")
    digest = hashlib.sha256(ALICE.encode()).digest()
    for secret_form in (ALICE, digest.hex(), base64.urlsafe_b64encode(digest).decode().rstrip("=")):
        assert secret_form not in cookie
    verified = keys.verify(cookie)
    assert verified == session
    worker = keys.sign_in(WORKER)
    assert worker is not None
    assert worker[0].identity.scope == "read"


def test_unknown_tokens_get_no_session(keys: SessionKeys) -> None:
    assert keys.sign_in("not-a-token") is None
    assert keys.sign_in("") is None


@pytest.mark.parametrize("part", [0, 1, 2, 3])
def test_any_tampering_invalidates_the_cookie(keys: SessionKeys, part: int) -> None:
    for _ in range(20):  # cookies differ (session id, CSRF token): one could be a lucky one
        issued = keys.sign_in(ALICE)
        assert issued is not None
        pieces = issued[1].split(".")
        # The first character: the last one of a base64 part may carry only padding bits, which decoding
        # ignores (A and B end the same 32-byte signature), so changing it tampers with nothing.
        pieces[part] = ("A" if pieces[part][0] != "A" else "B") + pieces[part][1:]
        assert keys.verify(".".join(pieces)) is None


def test_a_longer_expiry_cannot_be_forged(keys: SessionKeys) -> None:
    issued = keys.sign_in(ALICE)
    assert issued is not None
    key_id, expiry, nonce, signature = issued[1].split(".")
    assert keys.verify(f"{key_id}.{int(expiry) + 10**6}.{nonce}.{signature}") is None


def test_another_tokens_signature_does_not_transfer(keys: SessionKeys) -> None:
    alice = keys.sign_in(ALICE)
    worker = keys.sign_in(WORKER)
    assert alice is not None
    assert worker is not None
    worker_id = worker[1].split(".")[0]
    _alice_id, expiry, nonce, signature = alice[1].split(".")
    assert keys.verify(f"{worker_id}.{expiry}.{nonce}.{signature}") is None


@pytest.mark.parametrize("garbage", ["", "a.b.c", "a.b.c.d.e", "x" * 300, "id.notanumber.nonce.sig"])
def test_garbage_cookies_are_rejected(keys: SessionKeys, garbage: str) -> None:
    assert keys.verify(garbage) is None
    assert keys.verify(None) is None


def test_sessions_expire(keys: SessionKeys) -> None:
    now = time.time()
    issued = keys.sign_in(ALICE, now=now)
    assert issued is not None
    lifetime = SESSION_LIFETIME.total_seconds()
    assert keys.verify(issued[1], now=now + lifetime - 1) is not None
    assert keys.verify(issued[1], now=now + lifetime) is None


def test_removing_a_token_ends_its_sessions(keys: SessionKeys) -> None:
    alice = keys.sign_in(ALICE)
    bob = keys.sign_in(BOB)
    assert alice is not None
    assert bob is not None
    # Another replica, or this one restarted, configured without alice's token.
    without_alice = registry(admin=[("bob", BOB)])
    restarted = SessionKeys(without_alice)
    assert restarted.verify(alice[1]) is None
    assert restarted.verify(bob[1]) is not None


def test_every_replica_with_the_same_tokens_accepts_the_session(
    tokens: TokenRegistry, keys: SessionKeys
) -> None:
    issued = keys.sign_in(BOB)
    assert issued is not None
    replica = SessionKeys(tokens)
    assert replica.verify(issued[1]) == issued[0]


def test_scope_changes_apply_to_existing_sessions(keys: SessionKeys) -> None:
    issued = keys.sign_in(ALICE)
    assert issued is not None
    demoted = registry(read=[("alice", ALICE)])
    session = SessionKeys(demoted).verify(issued[1])
    assert session is not None
    assert session.identity == Identity("alice", "read")


def test_csrf_tokens_are_per_session(keys: SessionKeys) -> None:
    first = keys.sign_in(ALICE)
    second = keys.sign_in(ALICE)
    assert first is not None
    assert second is not None
    assert first[0].csrf_token != second[0].csrf_token
    assert first[0].check_csrf(first[0].csrf_token)
    assert not first[0].check_csrf(second[0].csrf_token)
    assert not first[0].check_csrf(None)
    assert not first[0].check_csrf("")


def _strings_held(root: object) -> set[str]:
    """Every string reachable from ``root`` through attributes and containers."""
    found: set[str] = set()
    seen: set[int] = set()
    pending = [root]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, bytes):
            found.add(item.decode("latin-1"))
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        else:
            slots = [name for cls in type(item).__mro__ for name in getattr(cls, "__slots__", ())]
            pending.extend(getattr(item, name) for name in slots if hasattr(item, name))
            pending.extend(getattr(item, "__dict__", {}).values())
    return found


def test_no_plain_token_is_kept(tokens: TokenRegistry, keys: SessionKeys) -> None:
    issued = keys.sign_in(ALICE)
    assert issued is not None
    held = _strings_held(tokens) | _strings_held(keys)
    for secret in (ALICE, BOB, WORKER):
        assert not any(secret in text for text in held)
    assert keys.verify(issued[1]) == issued[0]

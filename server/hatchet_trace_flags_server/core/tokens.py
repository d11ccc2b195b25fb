"""Named bearer tokens with a scope, parsed from ``name:token,...`` strings and mounted files."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "GENERATED_ADMIN_NAME",
    "MIN_TOKEN_LENGTH",
    "Identity",
    "Scope",
    "TokenConfigError",
    "TokenRegistry",
]

Scope = Literal["admin", "read"]

GENERATED_ADMIN_NAME = "generated-admin"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")  # printable ASCII, no spaces: fits an HTTP header as is
# 24 random URL-safe characters are 144 bits: beyond guessing, even without the throttle. Shorter
# tokens (the old docs' "s3cret") are refused at start-up.
MIN_TOKEN_LENGTH = 24
_GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class TokenConfigError(ValueError):
    """A token list is malformed; the message says where, never what the secret is."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling and what they may do. ``admin`` implies everything ``read`` allows."""

    name: str
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_token_list(text: str, *, origin: str) -> list[tuple[str, str]]:
    """``alice:TOKEN,deploy-bot:TOKEN`` (commas or newlines; ``#`` starts a comment line); each
    token at least :data:`MIN_TOKEN_LENGTH` characters."""
    pairs: list[tuple[str, str]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for entry in line.split(","):
            entry = entry.strip()
            if not entry:
                continue
            where = f"{origin} line {line_number}" if "\n" in text.strip() else origin
            name, sep, token = entry.partition(":")
            name = name.strip()
            token = token.strip()
            if not sep or not token:
                raise TokenConfigError(f"{where}: expected name:token, got an entry without ':'")
            if not _NAME.fullmatch(name):
                raise TokenConfigError(f"{where}: token name {name!r} must be 1-64 letters, digits or ._@+-")
            if not _TOKEN.fullmatch(token):
                raise TokenConfigError(
                    f"{where}: token for {name!r} must be 1-512 printable characters without spaces"
                )
            if len(token) < MIN_TOKEN_LENGTH:
                raise TokenConfigError(
                    f"{where}: token for {name!r} has {len(token)} characters; tokens need at least "
                    f"{MIN_TOKEN_LENGTH} (make one with: {_GENERATE_HINT})"
                )
            pairs.append((name, token))
    return pairs


class TokenRegistry:
    """Maps presented secrets to identities. Lookups cost the same whichever token is presented."""

    def __init__(self, tokens: Mapping[Scope, Iterable[tuple[str, str]]]) -> None:
        self._by_digest: dict[bytes, Identity] = {}
        for scope in ("admin", "read"):
            for name, token in tokens.get(scope, ()):
                digest = _digest(token)
                existing = self._by_digest.get(digest)
                if existing is not None and existing != Identity(name, scope):
                    raise TokenConfigError(
                        f"the same token is configured for {existing.name!r} ({existing.scope}) "
                        f"and {name!r} ({scope}); give each its own"
                    )
                self._by_digest[digest] = Identity(name, scope)

    @classmethod
    def from_sources(
        cls,
        *,
        admin_tokens: str = "",
        read_tokens: str = "",
        admin_tokens_file: Path | None = None,
        read_tokens_file: Path | None = None,
    ) -> TokenRegistry:
        admin = parse_token_list(admin_tokens, origin="ADMIN_TOKENS")
        read = parse_token_list(read_tokens, origin="READ_TOKENS")
        if admin_tokens_file is not None:
            admin += parse_token_list(_read(admin_tokens_file), origin=str(admin_tokens_file))
        if read_tokens_file is not None:
            read += parse_token_list(_read(read_tokens_file), origin=str(read_tokens_file))
        return cls({"admin": admin, "read": read})

    @property
    def has_admin(self) -> bool:
        return any(identity.is_admin for identity in self._by_digest.values())

    def add_generated_admin(self) -> str:
        """Create, register and return a fresh admin token (used when none is configured)."""
        token = secrets.token_urlsafe(32)
        self._by_digest[_digest(token)] = Identity(GENERATED_ADMIN_NAME, "admin")
        return token

    def digests(self) -> Iterator[tuple[bytes, Identity]]:
        """Every accepted token's SHA-256 digest with its identity (only digests are kept: the
        dashboard derives its session keys from them, so no plain token stays in memory)."""
        return iter(self._by_digest.items())

    def identify(self, presented: str) -> Identity | None:
        digest = _digest(presented)
        found: Identity | None = None
        # Every known digest is compared, in constant time, with no early exit: the response time
        # says nothing about how close a guess came or which token matched.
        for known_digest, identity in self._by_digest.items():
            if hmac.compare_digest(known_digest, digest):
                found = identity
        return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise TokenConfigError(f"cannot read token file {path}: {error.strerror}") from None

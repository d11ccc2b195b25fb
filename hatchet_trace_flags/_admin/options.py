"""Checks and start-up choices for :class:`~hatchet_trace_flags.AdminServiceProvider`'s options: the URL,
the token, the worker name, and which rules to serve before the service first answers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import httpx

from hatchet_trace_flags._admin.snapshot_store import SnapshotFileError, load_snapshot
from hatchet_trace_flags._decisions.rules_provider import rules_version
from hatchet_trace_flags.contract import RulesError, RuleSet

__all__ = ["Source", "check_token", "check_url", "check_worker_name", "starting_rules", "version_label"]

logger = logging.getLogger("hatchet_trace_flags")

Source = Literal["service", "snapshot file", "fallback", "defaults"]


def starting_rules(
    url: str, snapshot_path: Path | None, fallback: RuleSet | str | os.PathLike[str] | None
) -> tuple[RuleSet, Source, str | None, int | None, str | None]:
    if snapshot_path is not None:
        try:
            persisted = load_snapshot(snapshot_path)
        except SnapshotFileError as error:
            logger.warning("hatchet-trace-flags: %s; ignoring it", error)
            persisted = None
        if persisted is not None:
            # Its ETag means something only to the service that issued it.
            etag = persisted.etag if persisted.url == url else None
            return persisted.rules, "snapshot file", etag, persisted.revision, persisted.store
    if isinstance(fallback, RuleSet):
        return fallback, "fallback", None, None, None
    if fallback is not None:
        if not isinstance(fallback, str | os.PathLike):
            raise TypeError(f"fallback must be a RuleSet or a path, got {type(fallback).__name__}")
        path = Path(os.fspath(fallback))
        try:
            return RuleSet.loads(path.read_bytes()), "fallback", None, None, None
        except OSError as error:
            logger.warning(
                "hatchet-trace-flags: cannot read the fallback rules file %s: %s",
                path,
                error.strerror or error,
            )
        except RulesError as error:
            logger.warning("hatchet-trace-flags: the fallback rules file %s is invalid: %s", path, error)
    return RuleSet(), "defaults", None, None, None


def version_label(etag: str | None, rules: RuleSet) -> str:
    if etag:
        opaque = etag.removeprefix("W/").strip('"')
        if opaque:
            return opaque
    return rules_version(rules)


def check_url(url: object, *, field: str = "url") -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{field} must be the admin service's base URL, e.g. http://flags:8080, got {url!r}")
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as error:
        raise ValueError(f"{field}: {url!r} is not a URL: {error}") from None
    if parsed.userinfo:
        raise ValueError(f"{field} must not carry credentials; pass the token separately")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{field} must be an http:// or https:// URL with a host, got {url!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"{field} must be a base URL without query or fragment, got {url!r}")
    return str(parsed).rstrip("/")


def check_token(token: object, *, field: str = "token") -> None:
    # Never echo the token: errors describe it without quoting it.
    if token is None:
        return
    if not isinstance(token, str):
        raise TypeError(f"{field} must be a string, got {type(token).__name__}")
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ValueError(f"{field} must be non-empty printable ASCII without whitespace")


def check_worker_name(name: object, *, field: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or not name.isprintable():
        raise ValueError(f"{field} must be 1 to 255 printable characters, got {name!r}")
    return name

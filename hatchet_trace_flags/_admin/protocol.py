"""What the worker's follower exchanges with the admin service: its settings, the outcome of a snapshot
request, what it tells its provider (``Sink``), and the parsing of the service's answers (bounded bodies,
refusals, ``Retry-After``, revision and store headers)."""

from __future__ import annotations

import contextlib
import json
import math
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

import httpx

from hatchet_trace_flags.contract import (
    MAX_SEEN_PER_REPORT,
    REVISION_HEADER,
    STORE_HEADER,
    RulesError,
    RuleSet,
    validate_action_id,
)

__all__ = [
    "CONNECTION_DROPPED",
    "MAX_RETRY_AFTER",
    "MAX_SEEN_PER_REPORT",
    "MAX_SNAPSHOT_BYTES",
    "Applied",
    "Changed",
    "Failed",
    "FollowSettings",
    "Outcome",
    "Sink",
    "TooLarge",
    "Unauthorized",
    "Unchanged",
    "backoff_delay",
    "describe",
    "etag_of",
    "is_action_id",
    "read_bounded",
    "refusal",
    "retry_after_seconds",
    "revision_of",
    "store_of",
]

# The largest valid rule document is a few MB (MAX_ENTRIES entries of at most 255 characters).
MAX_SNAPSHOT_BYTES: Final = 16 * 1024 * 1024
MAX_RETRY_AFTER: Final = 600.0
ERROR_DETAIL_LIMIT: Final = 200
CONNECTION_DROPPED: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(frozen=True, slots=True)
class FollowSettings:
    base_url: str
    token: str | None
    stream: bool
    poll_interval: float
    resync_interval: float
    jitter: float
    timeout: float
    startup_timeout: float
    stream_idle_timeout: float
    backoff_initial: float
    backoff_max: float
    refused_retry_initial: float
    refused_retry_max: float
    report_tasks: bool
    report_interval: float
    report_batch_size: int
    worker_name: str | None
    verify: bool | ssl.SSLContext
    transport: httpx.AsyncBaseTransport | None


# -- outcomes of one snapshot request ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Changed:
    rules: RuleSet
    etag: str | None
    revision: int | None
    store: str | None = None  # the identity of the service's database (X-Rules-Store), when it sends one


@dataclass(frozen=True, slots=True)
class Unchanged:
    revision: int | None
    store: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    message: str
    invalid: bool = False  # the service answered, with something unusable (vs. could not be reached)
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Unauthorized:
    message: str
    retry_after: float | None = None


Outcome = Changed | Unchanged | Failed | Unauthorized


@dataclass(frozen=True, slots=True)
class Applied:
    """What the provider applies right now (read on the follower's thread)."""

    revision: int | None
    store: str | None
    source: str
    since: float | None  # time.time() when it started applying this revision
    streaming: bool


class Sink(Protocol):
    """What the follower tells the provider (called on the follower's thread)."""

    def current_etag(self) -> str | None: ...
    def snapshot_outcome(self, outcome: Changed | Unchanged | Failed, *, first: bool) -> None: ...
    def refused(self, message: str) -> None: ...
    def stream_state(self, connected: bool, problem: str | None) -> None: ...
    def count_request(self, kind: str) -> None: ...
    def applied(self) -> Applied: ...


class TooLarge(Exception):
    pass


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def refusal(response: httpx.Response, where: str) -> str:
    detail = ""
    with contextlib.suppress(Exception):
        body = await read_bounded(response, 4096)
        parsed = json.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
            detail = parsed["detail"]
    detail = "".join(character for character in detail if character.isprintable())[:ERROR_DETAIL_LIMIT]
    reason = f" ({detail})" if detail else ""
    return f"{where} refused the token: HTTP {response.status_code}{reason}"


def revision_of(headers: Mapping[str, str]) -> int | None:
    text = headers.get(REVISION_HEADER.lower(), "")
    return int(text) if text.isdigit() and len(text) < 20 else None


def store_of(headers: Mapping[str, str]) -> str | None:
    text = headers.get(STORE_HEADER.lower(), "")
    return text if 0 < len(text) <= 64 and text.isascii() and text.isalnum() else None


def etag_of(data: str) -> str:
    try:
        parsed = json.loads(data)
    except ValueError:
        return ""
    etag = parsed.get("etag") if isinstance(parsed, dict) else None
    return etag if isinstance(etag, str) else ""


def is_action_id(value: str) -> bool:
    try:
        validate_action_id(value)
    except RulesError:
        return False
    return True


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), capped at
    ``MAX_RETRY_AFTER``; ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    seconds: float
    if value.isdigit():
        seconds = float(int(value[:12]))
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempts: int, initial: float, maximum: float, retry_after: float | None) -> float:
    """Exponential backoff from ``initial`` doubling up to ``maximum``, with "equal jitter" (never near zero,
    never in lockstep), and never sooner than a ``Retry-After`` the service asked for."""
    ceiling = min(maximum, initial * 2.0 ** min(attempts - 1, 32))
    delay = ceiling * random.uniform(0.5, 1.0)
    return max(delay, retry_after) if retry_after is not None else delay

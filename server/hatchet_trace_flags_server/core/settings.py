"""Service settings, read from the environment (prefix ``HATCHET_TRACE_FLAGS_``) or passed in code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY

__all__ = [
    "TRACE_ID_PLACEHOLDER",
    "DatabaseURLError",
    "Settings",
    "check_trace_url_template",
    "trace_url",
]

TRACE_ID_PLACEHOLDER: Final = "{trace_id}"

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]

_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+asyncpg"}


class DatabaseURLError(ValueError):
    """The database URL is not a SQLite or PostgreSQL URL this service can use."""


class Settings(BaseSettings):
    """Everything the service can be configured with; see docs/server.md for the table."""

    model_config = SettingsConfigDict(env_prefix="HATCHET_TRACE_FLAGS_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    data_dir: Path = Path("./data")
    database_url: str | None = None
    admin_tokens: str = ""
    read_tokens: str = ""
    admin_tokens_file: Path | None = None
    read_tokens_file: Path | None = None
    log_level: LogLevel = "info"
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 15.0
    # Safety net behind LISTEN/NOTIFY (and the only cross-process signal for SQLite): how often each
    # process checks the database revision in case a notification was lost.
    resync_seconds: Annotated[float, Field(gt=0)] = 5.0
    flag_key: str = DEFAULT_FLAG_KEY
    # How long a database connect, statement or lock wait may take before the request answers
    # 503 with Retry-After (docs/server.md, "Security and operations").
    database_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    # Bounded growth (docs/server.md, "Limits"). Discovered tasks: at most this many rows; new
    # action_ids past it are ignored (known ones are still refreshed).
    max_discovered_tasks: Annotated[int, Field(ge=0)] = 100_000
    # ...and whose action_ids add up to at most this many characters: a row's storage grows with its
    # name (docs/server.md, "Limits", has the measured bytes per row), so long names fill this first.
    max_discovered_characters: Annotated[int, Field(ge=0)] = 4_000_000
    # A discovered task no worker reported for this long is forgotten (default 30 days).
    discovered_retention_seconds: Annotated[float, Field(gt=0)] = 30 * 86_400.0
    retention_sweep_seconds: Annotated[float, Field(gt=0)] = 600.0
    # Fan-out insight (docs/insight.md): workers' summaries are added up over this window, in rows
    # of one minute per task, for at most this many tasks.
    insight_window_seconds: Annotated[float, Field(ge=60, le=7 * 86_400)] = 900.0
    max_insight_tasks: Annotated[int, Field(ge=0)] = 2_000
    # Reports per token: action_ids per second, with a burst that must fit one full report (1,000).
    seen_rate: Annotated[float, Field(gt=0)] = 1_000.0
    seen_burst: Annotated[int, Field(ge=1_000)] = 10_000
    # Workers' reports of themselves (docs/server.md, "Workers"): at most this many workers are kept; one
    # that did not report for the retention period is forgotten. Per token: reports per second, with a
    # burst (a fleet sharing one token heartbeats every 30 s: 2,000 workers make about 67 a second).
    max_workers: Annotated[int, Field(ge=0)] = 10_000
    worker_retention_seconds: Annotated[float, Field(gt=0)] = 7 * 86_400.0
    worker_report_rate: Annotated[float, Field(gt=0)] = 200.0
    worker_report_burst: Annotated[int, Field(ge=11)] = 2_000
    # Failed authentication (wrong tokens, failed sign-ins): per client address, and in all.
    auth_failures_per_client_rate: Annotated[float, Field(gt=0)] = 0.5
    auth_failures_per_client_burst: Annotated[int, Field(ge=1)] = 20
    auth_failures_rate: Annotated[float, Field(gt=0)] = 20.0
    auth_failures_burst: Annotated[int, Field(ge=1)] = 200
    # A dashboard session unused for this long ends (it ends anyway 12 h after sign-in).
    session_idle_seconds: Annotated[float, Field(ge=60)] = 1800.0
    # Dashboard sessions one token keeps; signing in past it ends that token's least recently used
    # one (issue 27: a read token could create sessions without limit).
    max_sessions_per_token: Annotated[int, Field(ge=1, le=10_000)] = 20
    # Addresses of the proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or
    # networks, "*" for any): behind a TLS-terminating Ingress the session cookie keeps Secure and
    # throttling sees the real client address only when the Ingress's address is listed.
    forwarded_allow_ips: str = "127.0.0.1"
    # How many proxies in a row append to X-Forwarded-For (1: one Ingress). The client's address is
    # counted from the right, past that many entries, so a client cannot choose it by writing the
    # header itself (http/forwarded.py; docs/server.md, "Behind a proxy").
    forwarded_hops: Annotated[int, Field(ge=1, le=10)] = 1
    # On SIGTERM, requests in flight get this long to finish before they are cancelled (change
    # streams end at once). Keep it below the pod's terminationGracePeriodSeconds.
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=120)] = 10.0
    # Idle kept-alive connections are closed after this long.
    keep_alive_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    # Connections plus requests in flight before new ones get 503 (uvicorn's limit_concurrency);
    # must exceed max_streams. 0: no limit.
    max_concurrency: Annotated[int, Field(ge=0)] = 10_000
    # Open change streams (SSE), in all and per token.
    max_streams: Annotated[int, Field(ge=1)] = 5_000
    max_streams_per_token: Annotated[int, Field(ge=1)] = 2_500
    # How far ahead a time-boxed change may end (``until`` in task, pattern and settings writes;
    # docs/server.md, "Time-boxed changes"). Further is refused with 422: a "temporary" change for a
    # year is a permanent one nobody remembers.
    max_until_seconds: Annotated[float, Field(ge=60, le=366 * 86_400)] = 30 * 86_400.0
    # Where the insight page's example traces open (docs/insight.md): an http(s) URL with {trace_id}.
    trace_url_template: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("trace_url_template", mode="before")
    @classmethod
    def _trace_url_template(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check_trace_url_template(value)

    @field_validator("database_url", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "flags.db"

    def sqlalchemy_url(self) -> URL:
        """The database URL with the async driver this service uses (aiosqlite or asyncpg)."""
        if self.database_url is None:
            return URL.create("sqlite+aiosqlite", database=str(self.sqlite_path))
        return normalise_database_url(self.database_url)


def normalise_database_url(raw: str) -> URL:
    """Map ``sqlite:///...`` and ``postgresql://...`` (or ``postgres://``) to their async drivers."""
    try:
        url = make_url(raw)
    except ArgumentError as error:
        raise DatabaseURLError(f"DATABASE_URL is not a database URL: {error}") from None
    if url.drivername in _SQLITE_DRIVERS:
        if not url.database or url.database == ":memory:":
            # Each pooled connection would get its own empty database.
            raise DatabaseURLError("DATABASE_URL: SQLite needs a file path, e.g. sqlite:////data/flags.db")
        return url.set(drivername="sqlite+aiosqlite")
    if url.drivername in _POSTGRES_DRIVERS:
        return url.set(drivername="postgresql+asyncpg")
    raise DatabaseURLError(
        f"DATABASE_URL: unsupported scheme {url.drivername!r}; use sqlite:///PATH or postgresql://..."
    )


def check_trace_url_template(value: object) -> str:
    """An operator's trace URL template: http or https, with ``{trace_id}`` where the id goes."""
    if not isinstance(value, str):
        raise ValueError("must be a URL")
    template = value.strip()
    if TRACE_ID_PLACEHOLDER not in template:
        raise ValueError(
            f"must contain {TRACE_ID_PLACEHOLDER}, e.g. https://jaeger.example.com/trace/{{trace_id}}"
        )
    parts = urlsplit(template.replace(TRACE_ID_PLACEHOLDER, "0" * 32))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return template


def trace_url(template: str | None, trace_id: str) -> str | None:
    """The URL of ``trace_id`` (32 lowercase hex digits, checked by the caller) under ``template``."""
    return template.replace(TRACE_ID_PLACEHOLDER, trace_id) if template is not None else None

"""Checks and start-up choices for :class:`~hatchet_trace_flags.AdminServiceProvider`'s options: the URL,
the token, the worker name, the options ``from_settings`` reads from :class:`WorkerSettings`, and which
rules to serve before the service first answers."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path
from typing import Literal, TypedDict

import httpx

from hatchet_trace_flags._admin.snapshot_store import SnapshotFileError, load_snapshot
from hatchet_trace_flags._decisions.rules_provider import rules_version
from hatchet_trace_flags._settings import WorkerSettings, env_var
from hatchet_trace_flags.contract import RulesError, RuleSet

__all__ = [
    "EnvOptions",
    "Source",
    "check_token",
    "check_url",
    "check_worker_name",
    "options_from_settings",
    "starting_rules",
    "version_label",
]

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


class EnvOptions(TypedDict, total=False):
    """The keyword arguments ``from_env`` can set."""

    poll_interval: float
    timeout: float
    startup_timeout: float
    stream_idle_timeout: float
    backoff_max: float
    stream: bool
    report_tasks: bool
    persist: bool
    snapshot_file: str
    fallback: RuleSet | str
    verify: ssl.SSLContext
    worker_name: str


def options_from_settings(settings: WorkerSettings) -> tuple[str, str | None, EnvOptions]:
    """The URL, token and keyword arguments of an ``AdminServiceProvider`` configured from ``settings``
    (``settings.url`` is required). Raises ``ValueError`` naming the variable for a bad value."""
    if settings.url is None:
        raise ValueError(f"{env_var('url')} is not set")
    url = check_url(settings.url, field=env_var("url"))
    token = settings.token.get_secret_value() if settings.token is not None else None
    check_token(token, field=env_var("token"))
    options: EnvOptions = {
        "poll_interval": settings.poll_interval,
        "timeout": settings.timeout,
        "startup_timeout": settings.startup_timeout,
        "stream_idle_timeout": settings.stream_idle_timeout,
        "backoff_max": settings.backoff_max,
        "stream": settings.stream,
        "report_tasks": settings.report_tasks,
    }
    snapshot_file = settings.snapshot_file
    if snapshot_file is not None and snapshot_file.lower() in {"0", "false", "no", "off", "none"}:
        options["persist"] = False
    elif snapshot_file is not None:
        options["snapshot_file"] = snapshot_file
    if settings.rules_file is not None:
        options["fallback"] = settings.rules_file
    elif settings.links is not None:
        try:
            options["fallback"] = RuleSet.links_for(settings.links)
        except RulesError as error:
            raise ValueError(f"{env_var('links')}: {error}") from error
    if settings.ca_file is not None:
        try:
            options["verify"] = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"{env_var('ca_file')}: cannot load {settings.ca_file!r}: {error}") from error
    if settings.worker_name is not None:
        options["worker_name"] = check_worker_name(settings.worker_name, field=env_var("worker_name"))
    return url, token, options

"""What an :class:`~hatchet_trace_flags.AdminServiceProvider` knows about its admin service, and how that
changes: the snapshot/follow state machine fed by the follower thread (through ``_FollowerSink``), saving
each new snapshot to disk, the log lines and provider events each transition emits, and the read-only view
operators get of it (``state``, ``source``, ``revision``, ``streaming``, ``requests``, ...).

**Start-up never blocks a worker for long.** ``initialize`` waits for the first snapshot at most
``startup_timeout`` seconds (1). Until the service answers, the provider serves, in this order:

1. the last snapshot it saved on local disk (``snapshot_file``; written atomically after every snapshot
   that changed; by default ``$XDG_CACHE_HOME/hatchet-trace-flags/snapshot-<hash of url>.json``, i.e.
   under ``~/.cache``; in Kubernetes mount an ``emptyDir`` there or point ``snapshot_file`` at one, so
   it survives container restarts). Its ETag is sent with the first request, so an unchanged rule set
   is confirmed with a 304;
2. else the ``fallback`` rules (a :class:`~hatchet_trace_flags.RuleSet`, or the path of a rules file,
   read once);
3. else the defaults: parent mode for every task, exactly what stock Hatchet does.

If the service did not answer in time, ``initialize`` raises, so OpenFeature marks the provider
``ERROR`` (evaluations still work, with the rules above) and ``install_provider`` logs why; the thread
keeps trying and emits ``PROVIDER_READY`` when it gets through.

**While the service is down** the last rules keep being served and task starts are never slowed (they
never wait for the thread). Losing the service emits ``PROVIDER_STALE``; an unusable answer (garbage, a
truncated body, an invalid rule document) emits ``PROVIDER_ERROR``; both keep the last good rules, are
logged once per distinct problem, and the next good snapshot emits ``PROVIDER_READY``. Only the
snapshot decides "lost": a broken stream alone (e.g. a proxy that does not pass Server-Sent Events) is
logged at INFO level while polling carries on.

**401 or 403** (a wrong, revoked or under-scoped token, or a service in the middle of a token rotation)
logs an ERROR and emits ``PROVIDER_ERROR``; the last rules keep being served. The stream and the task
reports pause, and the snapshot is asked for again after ``refused_retry_initial`` seconds (5), doubling up
to ``refused_retry_max`` (300), with jitter and never sooner than a ``Retry-After``: a fleet of workers does
not hammer a service that refuses them, and a worker whose token becomes valid again (or whose service
comes back with it) follows it again by itself, with a WARNING, without a restart.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

from hatchet_trace_flags._admin.options import Source, version_label
from hatchet_trace_flags._admin.protocol import Applied, Changed, Failed, FollowSettings, Unchanged
from hatchet_trace_flags._admin.runtime import FollowerThread
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags._admin.snapshot_store import SnapshotFileError, save_snapshot, set_aside
from hatchet_trace_flags._decisions.rules_provider import RulesProvider
from hatchet_trace_flags._settings import env_var

__all__ = ["FollowState", "State"]

logger = logging.getLogger("hatchet_trace_flags")

State = Literal["idle", "starting", "live", "stale", "error", "unauthorized", "stopped"]


class FollowState(RulesProvider):
    """The follow state of ``AdminServiceProvider`` (which sets every attribute below in its ``__init__``)."""

    _url: str
    _settings: FollowSettings
    _snapshot_path: Path | None
    _source: Source
    _etag: str | None
    _revision: int | None
    _store: str | None
    _state: State
    _token_refused: bool
    _streaming: bool
    _ever_live: bool
    _last_contact: float | None
    _stream_problem: str | None
    _persist_problem: str | None
    _requests: dict[str, int]
    _applied_since: float
    _seen: SeenTasks | None

    # -- for operators ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._url

    @property
    def state(self) -> State:
        """``idle`` (not registered), ``starting``, ``live`` (the last snapshot request worked), ``stale``
        (the service is unreachable), ``error`` (it sent something unusable), ``unauthorized`` (it refused
        the token; stopped), ``stopped`` (shut down)."""
        return self._state

    @property
    def source(self) -> Source:
        """Where the rules served come from: ``service``, ``snapshot file``, ``fallback``, ``defaults``."""
        return self._source

    @property
    def revision(self) -> int | None:
        """The service's revision of the rules served, when known."""
        return self._revision

    @property
    def store(self) -> str | None:
        """The identity of the service database the served rules came from (``X-Rules-Store``), when known."""
        return self._store

    @property
    def etag(self) -> str | None:
        return self._etag

    @property
    def streaming(self) -> bool:
        """Whether the change stream is connected right now."""
        return self._streaming

    @property
    def last_contact(self) -> float | None:
        """``time.time()`` of the last successful snapshot request, None before the first."""
        return self._last_contact

    @property
    def snapshot_path(self) -> Path | None:
        return self._snapshot_path

    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests sent so far, per kind: ``snapshot``, ``events`` (stream connections), ``seen``,
        ``worker`` (its reports of itself)."""
        return dict(self._requests)

    def _follower_thread(self, *, first_attempt: bool) -> FollowerThread:
        def stopped_streaming() -> None:
            self._streaming = False

        return FollowerThread(
            self._settings,
            _FollowerSink(self),
            self._seen,
            first_attempt=first_attempt,
            on_exit=stopped_streaming,
        )

    # -- what the follower thread reports (through _FollowerSink) -------------------------------------------

    def _count_request(self, kind: str) -> None:
        self._requests[kind] += 1

    def _on_snapshot(self, outcome: Changed | Unchanged | Failed, *, first: bool) -> None:
        if self._state == "stopped":
            return  # an answer still in flight when we stopped
        if isinstance(outcome, Failed):
            self._failed(outcome, first=first)
            return
        if self._token_refused:
            self._token_refused = False
            logger.warning("hatchet-trace-flags: %s accepts the token again; following it", self._url)
        before = (self._revision, self._store, self._source)
        self._note_store(outcome.store, outcome.revision)
        self._last_contact = time.time()
        self._ever_live = True
        self._state = "live"
        if isinstance(outcome, Unchanged):
            # 304 to the ETag of what we serve: it is current, wherever it was loaded from.
            if outcome.revision is not None:
                self._revision = outcome.revision
            self._source = "service"
            self._note_applied(before)
            self._recover()
            return
        self._etag, self._revision, self._source = outcome.etag, outcome.revision, "service"
        self._note_applied(before)
        self._replace_rules(outcome.rules, version=version_label(outcome.etag, outcome.rules))
        self._persist(outcome)

    def _note_applied(self, before: tuple[int | None, str | None, Source]) -> None:
        """Since when this worker applies what it applies (its report of itself says so)."""
        if (self._revision, self._store, self._source) != before:
            self._applied_since = time.time()

    def _applied(self) -> Applied:
        return Applied(self._revision, self._store, self._source, self._applied_since, self._streaming)

    def _note_store(self, store: str | None, revision: int | None) -> None:
        """Say it loudly when the service answers from another database than the rules served came from:
        a service restarted on a new, empty database would otherwise switch every worker to empty rules
        silently. The previous saved snapshot is copied aside before the new one replaces it."""
        previous, self._store = self._store, store if store is not None else self._store
        if store is None or previous is None or store == previous:
            return
        kept = set_aside(self._snapshot_path, previous) if self._snapshot_path is not None else None
        logger.warning(
            "hatchet-trace-flags: the admin service at %s now answers from rules store %s (revision %s), "
            "not from store %s (revision %s) that this worker followed until now: it may have been started "
            "on a new, empty database. Following it%s.",
            self._url,
            store,
            revision,
            previous,
            self._revision,
            f"; the previous snapshot is kept in {kept}" if kept is not None else "",
        )

    def _on_refused(self, message: str) -> None:
        if self._state == "stopped":
            return
        self._state = "unauthorized"
        self._token_refused = True
        self._streaming = False
        logger.error(
            "hatchet-trace-flags: %s. Tasks keep rules version %s (%s); asking again with a growing pause "
            "(at most %g s) until the service accepts the token (%s).",
            message,
            self.version,
            self._source,
            self._settings.refused_retry_max,
            env_var("token"),
        )
        self._report_error(f"{message}; retrying until it is accepted")

    def _on_stream(self, connected: bool, problem: str | None) -> None:
        self._streaming = connected
        if connected:
            self._stream_problem = None
            logger.info("hatchet-trace-flags: following the change stream of %s", self._url)
        elif problem is not None and problem != self._stream_problem:
            self._stream_problem = problem
            logger.info(
                "hatchet-trace-flags: %s; polling the snapshot every %g s until the stream is back",
                problem,
                self._settings.poll_interval,
            )

    def _failed(self, outcome: Failed, *, first: bool) -> None:
        if first or not self._ever_live:
            # Never reached the service since start: one steady ERROR that says what is served meanwhile.
            self._state = "error" if outcome.invalid else "stale"
            self._report_error(self._startup_message(outcome.message))
        elif outcome.invalid:
            self._state = "error"
            self._report_error(f"{outcome.message}; keeping the last good rules")
        else:
            self._state = "stale"
            self._report_stale(f"{outcome.message}; keeping the last rules it sent")

    def _startup_message(self, problem: str) -> str:
        if self._source == "snapshot file":
            serving = f"serving the snapshot saved in {self._snapshot_path} (revision {self._revision})"
        elif self._source == "fallback":
            serving = "serving the fallback rules"
        else:
            serving = "every task uses parent mode"
        return f"{problem}; {serving} until it answers"

    def _persist(self, outcome: Changed) -> None:
        path = self._snapshot_path
        if path is None:
            return
        try:
            save_snapshot(
                path,
                rules=outcome.rules,
                url=self._url,
                etag=outcome.etag,
                revision=outcome.revision,
                store=self._store,
            )
        except SnapshotFileError as error:
            message = str(error)
            if message != self._persist_problem:
                self._persist_problem = message
                logger.warning(
                    "hatchet-trace-flags: %s; a restart without the admin service will start from %s",
                    message,
                    "the fallback rules" if self._source == "fallback" else "the defaults",
                )
            return
        self._persist_problem = None


class _FollowerSink:
    """The follower's view of its provider (keeps those callbacks off the provider's public API)."""

    def __init__(self, provider: FollowState) -> None:
        self._provider = provider

    def current_etag(self) -> str | None:
        return self._provider._etag

    def snapshot_outcome(self, outcome: Changed | Unchanged | Failed, *, first: bool) -> None:
        self._provider._on_snapshot(outcome, first=first)

    def refused(self, message: str) -> None:
        self._provider._on_refused(message)

    def stream_state(self, connected: bool, problem: str | None) -> None:
        self._provider._on_stream(connected, problem)

    def count_request(self, kind: str) -> None:
        self._provider._count_request(kind)

    def applied(self) -> Applied:
        return self._provider._applied()

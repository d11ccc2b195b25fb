"""``AdminServiceProvider``: workers follow the admin service live, and survive it going away.

An OpenFeature provider (a :class:`~hatchet_trace_flags.RulesProvider`) whose rules come from the
admin service (``hatchet-trace-flags serve``). It fetches the whole rule set once and evaluates every
flag in process with the shared rules evaluator: **no network call per evaluation, ever**. Usually you
do not build it yourself; set two environment variables and use the default wiring::

    HATCHET_TRACE_FLAGS_URL=http://hatchet-trace-flags:8080
    HATCHET_TRACE_FLAGS_TOKEN=<a read token of the service>

    HatchetInstrumentor(use_links_instead_of_parent=predicate_from_env()).instrument()

or in code::

    from hatchet_trace_flags import AdminServiceProvider, FlagPredicate, install_provider

    install_provider(AdminServiceProvider("http://hatchet-trace-flags:8080", token))
    HatchetInstrumentor(use_links_instead_of_parent=FlagPredicate()).instrument()

**Following changes.** Once registered (``initialize``), a daemon thread of the provider, with its own
asyncio loop, keeps the rules current:

- it listens to the service's change stream (``GET /api/v1/events``, Server-Sent Events) and refetches
  the snapshot (``GET /api/v1/snapshot``) on each change: a flip reaches the worker in milliseconds;
- it also polls the snapshot with ``If-None-Match`` (a 304 costs the service next to nothing): every
  ``poll_interval`` seconds (10) while the stream is down, disabled (``stream=False``) or blocked by a
  proxy, and every ``resync_interval`` seconds (60) as a safety net while it is up; both ±``jitter``
  (10 %) so that a fleet of workers does not poll in lockstep;
- reconnects and retries back off exponentially (``backoff_initial`` 0.5 s doubling up to
  ``backoff_max`` 30 s, with jitter) and never come sooner than a ``Retry-After`` the service (or a
  proxy) asked for;
- a stream silent for ``stream_idle_timeout`` seconds (20; the service sends a heartbeat every 15 s) is
  taken for dead and reconnected: a connection that died without a FIN is noticed;
- every request is bounded by ``timeout`` seconds (5), so a stalled connection never hangs anything.

A new rule set emits ``PROVIDER_CONFIGURATION_CHANGED`` with ``flags_changed=[flag_key]``, so
:class:`~hatchet_trace_flags.FlagPredicate` drops its cached decisions and the next task start sees the
flip.

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

**Task discovery.** The action_ids this worker evaluates are reported to the service
(``POST /api/v1/tasks/seen``) in batches of up to ``report_batch_size`` (100) every ``report_interval``
seconds (5), each one again at most every 10 minutes, so operators see every task in the service's list
with its last worker (``worker_name``, by default ``<hostname>/<pid>``). Queueing one costs a dictionary
lookup on a decision-cache miss; a failing report is retried later and never touches a task.

**Worker reports.** With the task reports, the worker reports itself (``POST /api/v1/workers/report``):
its name, host, library and hatchet-sdk versions, the rules revision it applies (and its store, its
source) and since when, stream or polling, and the tasks it evaluated again since its last report (so the
service's "last seen" of a busy task stays within about a minute). At once when it applies a new revision,
otherwise every 30 s; operators see the fleet and how far each change got (``hatchet-trace-flags workers
list``, the dashboard's Workers page). A service without worker reports is asked again every 10 minutes.
``report_tasks=False`` turns off both reports.

**Threads, fork, shutdown.** The thread starts lazily in ``initialize`` and is restarted in the child
after ``os.fork()`` (prefork workers), with a fresh connection. ``shutdown`` stops and joins it
(OpenFeature calls it on ``api.shutdown()``/``clear_providers()`` or when the provider is replaced).

**For operators.** ``state`` (``idle``, ``starting``, ``live``, ``stale``, ``error``, ``unauthorized``,
``stopped``), ``last_error``, ``source`` (where the served rules come from: ``service``,
``snapshot file``, ``fallback``, ``defaults``), ``revision``, ``streaming`` and ``requests`` (requests
sent, per kind: ``snapshot``, ``events``, ``seen``, ``worker``).

**Environment.** :meth:`AdminServiceProvider.from_env` (used by ``predicate_from_env``) reads the
``HATCHET_TRACE_FLAGS_*`` variables of :class:`~hatchet_trace_flags.WorkerSettings`, listed in
docs/configuration.md.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, Self, TypedDict

import httpx
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import GeneralError
from openfeature.flag_evaluation import FlagResolutionDetails

from hatchet_trace_flags._admin.options import (
    Source,
    check_token,
    check_url,
    check_worker_name,
    starting_rules,
    version_label,
)
from hatchet_trace_flags._admin.protocol import Applied, Changed, Failed, FollowSettings, Unchanged
from hatchet_trace_flags._admin.runtime import FollowerThread
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags._admin.snapshot_store import (
    SnapshotFileError,
    default_snapshot_path,
    save_snapshot,
    set_aside,
)
from hatchet_trace_flags._checks import check_seconds
from hatchet_trace_flags._decisions.rules_provider import RulesProvider
from hatchet_trace_flags._settings import WorkerSettings, env_var
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RulesError, RuleSet

__all__ = ["AdminServiceProvider", "State"]

logger = logging.getLogger("hatchet_trace_flags")

State = Literal["idle", "starting", "live", "stale", "error", "unauthorized", "stopped"]

# How long initialize() waits beyond startup_timeout for the thread to start and report.
_STARTUP_SLACK: Final = 1.0
_SHUTDOWN_TIMEOUT: Final = 5.0
_REPORT_REFRESH: Final = 600.0


class _EnvOptions(TypedDict, total=False):
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


class AdminServiceProvider(RulesProvider):
    """Rules from the admin service at ``url``, followed live, evaluated in process.

    :param url: the service's base URL, e.g. ``http://hatchet-trace-flags:8080`` (a path prefix is kept).
    :param token: an API token of the service (read scope is enough); ``None`` sends no credentials.
    :param flag_key: the boolean flag this provider answers.
    :param stream: follow the change stream; ``False`` relies on polling alone.
    :param poll_interval: seconds between snapshot polls while the stream is not connected.
    :param resync_interval: seconds between snapshot polls while it is (a safety net).
    :param jitter: relative spread of those intervals, in [0, 1).
    :param timeout: seconds allowed per request (connect, send, read the whole answer).
    :param startup_timeout: seconds ``initialize`` waits for the first snapshot.
    :param stream_idle_timeout: seconds without any byte on the stream before it is taken for dead.
    :param backoff_initial: first retry delay after a failure, in seconds (doubles up to ``backoff_max``).
    :param backoff_max: the longest retry delay, in seconds (a ``Retry-After`` may ask for longer).
    :param refused_retry_initial: after the service refuses the token (401/403), seconds before asking
        again (doubles up to ``refused_retry_max``, with jitter).
    :param refused_retry_max: the longest wait between two attempts while the token is refused.
    :param snapshot_file: where to keep the last snapshot; ``None``: the default location.
    :param persist: ``False``: neither read nor write a snapshot file.
    :param fallback: rules while neither the service nor a snapshot file has any: a ``RuleSet`` or the
        path of a rules file (read once).
    :param report_tasks: report the evaluated action_ids to the service.
    :param report_interval: seconds between task reports.
    :param report_batch_size: action_ids per report request (1 to 1000).
    :param worker_name: the worker name sent with task reports; default ``<hostname>/<pid>``.
    :param verify: TLS verification: ``True``, ``False`` or an ``ssl.SSLContext``.
    :param transport: an ``httpx.AsyncBaseTransport`` to send requests through (tests, proxies).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        flag_key: str = DEFAULT_FLAG_KEY,
        stream: bool = True,
        poll_interval: float = 10.0,
        resync_interval: float = 60.0,
        jitter: float = 0.1,
        timeout: float = 5.0,
        startup_timeout: float = 1.0,
        stream_idle_timeout: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        refused_retry_initial: float = 5.0,
        refused_retry_max: float = 300.0,
        snapshot_file: str | os.PathLike[str] | None = None,
        persist: bool = True,
        fallback: RuleSet | str | os.PathLike[str] | None = None,
        report_tasks: bool = True,
        report_interval: float = 5.0,
        report_batch_size: int = 100,
        worker_name: str | None = None,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = check_url(url)
        check_token(token)
        for name, value in (
            ("poll_interval", poll_interval),
            ("resync_interval", resync_interval),
            ("timeout", timeout),
            ("startup_timeout", startup_timeout),
            ("stream_idle_timeout", stream_idle_timeout),
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
            ("refused_retry_initial", refused_retry_initial),
            ("refused_retry_max", refused_retry_max),
            ("report_interval", report_interval),
        ):
            check_seconds(name, value)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
            raise ValueError(f"jitter must be a number in [0, 1), got {jitter!r}")
        if (
            isinstance(report_batch_size, bool)
            or not isinstance(report_batch_size, int)
            or not 1 <= report_batch_size <= 1000
        ):
            raise ValueError(
                f"report_batch_size must be an integer from 1 to 1000, got {report_batch_size!r}"
            )
        if worker_name is not None:
            check_worker_name(worker_name, field="worker_name")
        if not isinstance(verify, bool | ssl.SSLContext):
            raise TypeError(f"verify must be a bool or an ssl.SSLContext, got {type(verify).__name__}")
        for name, flag in (("stream", stream), ("persist", persist), ("report_tasks", report_tasks)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")

        snapshot_path: Path | None = None
        if persist:
            snapshot_path = (
                Path(os.fspath(snapshot_file)).absolute()
                if snapshot_file is not None
                else default_snapshot_path(url)
            )
        rules, source, etag, revision, store = starting_rules(url, snapshot_path, fallback)
        super().__init__(
            rules,
            flag_key=flag_key,
            version=version_label(etag, rules),
            name="hatchet-trace-flags admin service",
        )
        self._url = url
        self._settings = FollowSettings(
            base_url=url,
            token=token,
            stream=stream,
            poll_interval=float(poll_interval),
            resync_interval=float(resync_interval),
            jitter=float(jitter),
            timeout=float(timeout),
            startup_timeout=float(startup_timeout),
            stream_idle_timeout=float(stream_idle_timeout),
            backoff_initial=float(backoff_initial),
            backoff_max=float(backoff_max),
            refused_retry_initial=float(refused_retry_initial),
            refused_retry_max=float(refused_retry_max),
            report_tasks=report_tasks,
            report_interval=float(report_interval),
            report_batch_size=report_batch_size,
            worker_name=worker_name,
            verify=verify,
            transport=transport,
        )
        self._snapshot_path = snapshot_path
        self._source: Source = source
        self._etag = etag
        self._revision = revision
        self._store = store  # the service database's identity the served rules came from, when known
        self._state: State = "idle"
        self._token_refused = False  # until the service answers a snapshot request again
        self._streaming = False
        self._ever_live = False
        self._last_contact: float | None = None
        self._stream_problem: str | None = None
        self._persist_problem: str | None = None
        self._requests = {"snapshot": 0, "events": 0, "seen": 0, "worker": 0}
        self._applied_since = time.time()  # the starting rules apply from now
        self._seen = SeenTasks(refresh=_REPORT_REFRESH) if report_tasks else None
        self._life_lock = threading.Lock()
        self._runtime: FollowerThread | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        flag_key: str = DEFAULT_FLAG_KEY,
    ) -> Self:
        """Configured from the ``HATCHET_TRACE_FLAGS_*`` variables (:class:`WorkerSettings`; the table is in
        docs/configuration.md). Raises ``ValueError`` naming the variable for a bad value."""
        return cls.from_settings(WorkerSettings.from_environ(environ), flag_key=flag_key)

    @classmethod
    def from_settings(cls, settings: WorkerSettings, *, flag_key: str = DEFAULT_FLAG_KEY) -> Self:
        """Configured from :class:`WorkerSettings` (``settings.url`` is required)."""
        if settings.url is None:
            raise ValueError(f"{env_var('url')} is not set")
        url = check_url(settings.url, field=env_var("url"))
        token = settings.token.get_secret_value() if settings.token is not None else None
        check_token(token, field=env_var("token"))
        options: _EnvOptions = {
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
                raise ValueError(
                    f"{env_var('ca_file')}: cannot load {settings.ca_file!r}: {error}"
                ) from error
        if settings.worker_name is not None:
            options["worker_name"] = check_worker_name(settings.worker_name, field=env_var("worker_name"))
        return cls(url, token, flag_key=flag_key, **options)

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

    def __repr__(self) -> str:
        return f"AdminServiceProvider(url={self._url!r}, state={self._state!r}, version={self.version!r})"

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

    # -- OpenFeature lifecycle ---------------------------------------------------------------------------

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        with self._life_lock:
            if self._runtime is not None and self._runtime.alive():
                return
            self._state = "starting"
            runtime = self._runtime = self._follower_thread(first_attempt=True)
            runtime.start()
        try:
            settled = runtime.first_attempt.wait(self._settings.startup_timeout + _STARTUP_SLACK)
            if not settled:
                self._state = "stale"
                self._report_error(
                    self._startup_message(
                        f"the admin service at {self._url} sent no snapshot within "
                        f"{self._settings.startup_timeout:g} s"
                    )
                )
        finally:
            runtime.initialize_returned()
        problem = self.last_error
        if problem is not None:
            raise GeneralError(problem)

    def shutdown(self) -> None:
        super().shutdown()
        with self._life_lock:
            runtime, self._runtime = self._runtime, None
            if runtime is not None:
                self._state = "stopped"
        if runtime is not None:
            runtime.stop(_SHUTDOWN_TIMEOUT)
        self._streaming = False

    def _after_fork_in_child(self) -> None:
        self._life_lock = threading.Lock()
        if self._seen is not None:
            self._seen.after_fork()
        self._streaming = False
        if self._runtime is not None:
            # It ran in the parent; its thread did not survive the fork.
            self._runtime = self._follower_thread(first_attempt=False)
            self._runtime.initialize_returned()
            self._runtime.start()

    # -- evaluation ----------------------------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        details = super().resolve_boolean_details(flag_key, default_value, evaluation_context)
        seen = self._seen
        if seen is not None and details.error_code is None and evaluation_context is not None:
            action_id = evaluation_context.targeting_key
            if action_id:
                seen.note(action_id)
        return details

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

    def __init__(self, provider: AdminServiceProvider) -> None:
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

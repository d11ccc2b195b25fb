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

**Start-up, outages, refused tokens.** ``initialize`` waits for the first snapshot at most
``startup_timeout`` seconds (1); until the service answers, the provider serves the last snapshot saved on
local disk, else the ``fallback`` rules, else the defaults (parent mode). While the service is down the
last rules keep being served and task starts are never slowed; a 401 or 403 is logged as an ERROR and the
token is asked again with a growing pause. The details live with the state machine that does it:
:mod:`hatchet_trace_flags._admin.follow_state`.

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

import os
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Self

import httpx
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import GeneralError
from openfeature.flag_evaluation import FlagResolutionDetails

from hatchet_trace_flags._admin.follow_state import FollowState
from hatchet_trace_flags._admin.options import (
    check_token,
    check_url,
    check_worker_name,
    options_from_settings,
    starting_rules,
    version_label,
)
from hatchet_trace_flags._admin.protocol import FollowSettings
from hatchet_trace_flags._admin.runtime import FollowerThread
from hatchet_trace_flags._admin.seen import SeenTasks
from hatchet_trace_flags._admin.snapshot_store import default_snapshot_path
from hatchet_trace_flags._checks import check_seconds
from hatchet_trace_flags._settings import WorkerSettings
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RuleSet

__all__ = ["AdminServiceProvider"]

# How long initialize() waits beyond startup_timeout for the thread to start and report.
_STARTUP_SLACK: Final = 1.0
_SHUTDOWN_TIMEOUT: Final = 5.0
_REPORT_REFRESH: Final = 600.0


class AdminServiceProvider(FollowState):
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
        self._source = source
        self._etag = etag
        self._revision = revision
        self._store = store  # the service database's identity the served rules came from, when known
        self._state = "idle"
        self._token_refused = False  # until the service answers a snapshot request again
        self._streaming = False
        self._ever_live = False
        self._last_contact = None
        self._stream_problem = None
        self._persist_problem = None
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
        url, token, options = options_from_settings(settings)
        return cls(url, token, flag_key=flag_key, **options)

    def __repr__(self) -> str:
        return f"AdminServiceProvider(url={self._url!r}, state={self._state!r}, version={self.version!r})"

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

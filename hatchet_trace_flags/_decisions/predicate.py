"""``FlagPredicate``: the per-task link/parent decision, from one boolean OpenFeature flag.

The instrumentor asks ``use_links_instead_of_parent(action_id)`` once per task start, on the worker's
event loop. ``FlagPredicate`` is that callable. It evaluates one boolean flag (by default
``hatchet.use-links-instead-of-parent``) through OpenFeature, so the decision can come from our own
providers (:class:`~hatchet_trace_flags.LocalProvider`, the admin service) or from any OpenFeature
provider (LaunchDarkly, Unleash, flagd, GO Feature Flag, ``InMemoryProvider``, OFREP, ...)::

    from openfeature import api
    from hatchet_trace_flags import FlagPredicate, HatchetInstrumentor

    api.set_provider(my_launchdarkly_or_flagd_provider)
    HatchetInstrumentor(use_links_instead_of_parent=FlagPredicate()).instrument()

Without a ``client`` it uses ``api.get_client("hatchet-trace-flags")``: the provider bound to that
domain, or the global provider when none is.

**Evaluation context.** ``targeting_key`` is the action_id (``{namespace}{workflow}:{task}``, e.g.
``prod_fanout-worker:process-item``); the attributes ``workflow`` (everything before the last ``:``,
namespace included) and ``task`` (everything after it) are there for providers that target on
attributes.

**Caching.** A decision is kept for ``ttl`` seconds (at most ``maxsize`` action_ids). Serving it takes no
lock: one dictionary lookup, one clock reading and one integer increment (under 10 ``dict.get``\\ s; see
``benchmarks/bench_predicate.py``). When the provider emits ``PROVIDER_CONFIGURATION_CHANGED`` for our
flag, every cached decision is dropped, so a flip reaches the next task start; a provider that emits no
events is asked again at the latest ``ttl`` seconds after its previous answer.

**First decisions are the provider's.** The instrumentor calls :meth:`FlagPredicate.prefetch` with the
action_ids a worker registered as soon as hatchet-sdk builds the worker's runner, before the first task
arrives, so even the first start of a task is usually a cache hit. When it is not, a miss is resolved so:

- *In-process providers* (class attribute ``evaluates_in_process = True``; ``RulesProvider`` and its
  subclasses have it) are evaluated inline: one OpenFeature call, about 10 µs, no I/O.
- *Any other provider* might do I/O, so it is never called on the calling thread; it is asked on a few
  daemon threads. For an action_id it has never answered, the caller waits for that answer at most
  ``first_decision_budget`` seconds (default 5 ms; an in-memory provider such as ``InMemoryProvider``,
  flagd in-process, LaunchDarkly or Unleash answers in well under 1 ms including the thread hand-off).
  If the budget runs out, ``default`` is served and no later task start waits again until the provider
  has answered something: a stalled provider costs one task start the budget, once.
- Once an action_id has an answer, a miss (expired, or dropped by a change event) serves that last
  known decision at once and refreshes it in the background (stale-while-refresh): at most one refresh
  in flight per action_id, at most ``max_pending_refreshes`` in total (more are skipped, not queued), and
  a refresh older than ``refresh_timeout`` seconds is abandoned (its late answer is ignored; the next
  task start schedules a new one). On ``PROVIDER_CONFIGURATION_CHANGED`` every known action_id is
  refreshed in the background at once.

A provider error (an OpenFeature error code, a non-bool value, an exception) serves the last known
decision for that action_id, else ``default``. That fallback is cached like a decision (except for
``PROVIDER_NOT_READY``, retried on the next call), so a failing provider is asked once per ``ttl``, not
once per task. Each distinct problem is logged once, as a warning on the ``hatchet_trace_flags`` logger.

**Metrics.** An OpenTelemetry ``ObservableCounter`` named ``hatchet_trace_flags.decisions`` (from
``meter_provider``, else the global one) counts the decisions served, with attributes ``mode``
(``link``/``parent``), ``source`` (``cache``; ``evaluated``: the provider was just asked;
``fallback``: it was not, or could not answer) and ``reason``: ours (``exact``, ``pattern``,
``default``, ``disabled``), OpenFeature's reason in lower case for other providers
(``targeting_match``, ``split``, ...), or why a fallback was served: ``error``, ``pending`` (no answer
yet), ``stale`` (previous answer while a refresh runs), ``timeout`` (refresh abandoned). Counting is an
integer increment; the counter is read only at collection time.

**Threads and fork.** Safe to call from any number of threads: readers take no lock (every write
replaces whole entries under the predicate's lock, and a dict lookup is atomic under the GIL). After
``os.fork()`` the child gets a fresh lock and fresh refresh threads and keeps the cached decisions, so
prefork servers never end up with a frozen predicate. The child also gets a fresh OpenFeature event
executor: openfeature-sdk 0.10's own does not survive fork, and without it no provider event would ever
reach a handler in the child.

``close()`` unsubscribes from provider events and stops the refresh threads; the predicate keeps
answering (from its cache, inline for in-process providers, otherwise from what it last knew).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from cachetools import LRUCache
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from hatchet_trace_flags._checks import check_count, check_seconds, check_seconds_or_zero
from hatchet_trace_flags._decisions.decision_metrics import DECISIONS_METRIC, Outcome, Tally, count_decisions
from hatchet_trace_flags._decisions.evaluation_event import Evaluation, evaluation
from hatchet_trace_flags._decisions.fork_safety import track
from hatchet_trace_flags._decisions.provider_answer import Answer, answer_from, provider_name_of
from hatchet_trace_flags._decisions.refresh_threads import RefreshThreads, join_threads
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY

__all__ = [
    "DECISIONS_METRIC",
    "DEFAULT_FIRST_DECISION_BUDGET",
    "OPENFEATURE_DOMAIN",
    "FlagPredicate",
    "evaluates_in_process",
]

OPENFEATURE_DOMAIN: Final = "hatchet-trace-flags"
DEFAULT_FIRST_DECISION_BUDGET: Final = 0.005

logger = logging.getLogger("hatchet_trace_flags")


def evaluates_in_process(provider: object) -> bool:
    """True when ``provider`` declares that evaluating a flag costs microseconds and never does I/O."""
    return getattr(provider, "evaluates_in_process", False) is True


class _Entry(NamedTuple):
    """A cached decision: served until ``expires`` (the predicate's clock), with what its span event says."""

    expires: float
    use_links: bool
    outcome: Outcome
    evaluation: Evaluation


class _Refresh:
    """One background refresh; identity tells a current refresh from an abandoned one."""

    __slots__ = ("done", "generation", "started")

    def __init__(self, started: float, generation: int) -> None:
        self.started = started
        self.generation = generation
        self.done = threading.Event()


class FlagPredicate:
    """``action_id -> bool`` (True: link mode) for the instrumentor, from one boolean OpenFeature flag.

    :param client: the OpenFeature client to evaluate with; default ``api.get_client("hatchet-trace-flags")``.
    :param flag_key: the boolean flag to evaluate.
    :param ttl: seconds a decision is served from the cache when the provider emits no change event.
    :param maxsize: how many action_ids the cache (and the last-known store) holds.
    :param default: the decision when the provider has never answered for an action_id (False: parent mode,
        exactly like stock Hatchet).
    :param first_decision_budget: seconds a task start may wait for the first answer about its action_id
        from a provider that is not in-process (0: never wait). A stalled provider costs this once.
    :param refresh_timeout: seconds after which a background refresh is abandoned (non-in-process providers).
    :param max_pending_refreshes: background refreshes allowed in flight or queued at once.
    :param refresh_threads: daemon threads running background refreshes (started on first use).
    :param meter_provider: where the ``hatchet_trace_flags.decisions`` counter goes; default the global one.
    :param timer: monotonic clock in seconds, for the TTL and the refresh timeout (tests pass a fake one).
    """

    def __init__(
        self,
        client: OpenFeatureClient | None = None,
        *,
        flag_key: str = DEFAULT_FLAG_KEY,
        ttl: float = 10.0,
        maxsize: int = 10_000,
        default: bool = False,
        first_decision_budget: float = DEFAULT_FIRST_DECISION_BUDGET,
        refresh_timeout: float = 5.0,
        max_pending_refreshes: int = 256,
        refresh_threads: int = 2,
        meter_provider: MeterProvider | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(flag_key, str) or not flag_key:
            raise ValueError(f"flag_key must be a non-empty string, got {flag_key!r}")
        self._ttl = check_seconds("ttl", ttl)
        self._refresh_timeout = check_seconds("refresh_timeout", refresh_timeout)
        self._first_decision_budget = check_seconds_or_zero("first_decision_budget", first_decision_budget)
        self._maxsize = check_count("maxsize", maxsize)
        self._max_pending_refreshes = check_count("max_pending_refreshes", max_pending_refreshes)
        check_count("refresh_threads", refresh_threads)
        if not isinstance(default, bool):
            raise TypeError(f"default must be a bool, got {default!r}")

        self._client = client if client is not None else api.get_client(OPENFEATURE_DOMAIN)
        self._flag_key = flag_key
        self._default = default
        self._timer = timer

        # Readers take no lock; every write below happens under _lock, which is never held across a
        # provider call. Writes replace whole entries (or the whole dict), so a reader sees old or new.
        self._lock = threading.Lock()
        self._decisions: dict[str, _Entry] = {}
        self._last_known: LRUCache[str, Evaluation] = LRUCache(maxsize)  # the last answer that was no error
        self._refreshing: dict[str, _Refresh] = {}
        self._outstanding_refreshes = 0
        self._generation = 0  # bumped on every invalidation; answers from older generations are not cached
        self._stalled = False  # a first-decision wait ran out and the provider has not answered since
        self._refresh_threads = RefreshThreads(refresh_threads)
        self._closed = False

        self._tally = Tally()
        count_decisions(
            meter_provider if meter_provider is not None else metrics.get_meter_provider(), self._tally
        )
        self._last_problem: str | None = None

        # Handlers hold only a weak reference, so an unclosed predicate can still be collected.
        handlers = _subscribe(self._client, weakref.ref(self))
        self._release = weakref.finalize(self, _release, self._client, handlers, self._refresh_threads)
        track(self)

    @property
    def flag_key(self) -> str:
        return self._flag_key

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def first_decision_budget(self) -> float:
        return self._first_decision_budget

    @property
    def client(self) -> OpenFeatureClient:
        return self._client

    def __call__(self, action_id: str) -> bool:
        # The hot path: no lock, one dict lookup, one clock reading, one integer increment (exact under
        # the GIL: CPython switches threads only at calls and backward jumps, never inside `+= 1`).
        try:
            expires, use_links, outcome, _ = self._decisions[action_id]
        except (KeyError, TypeError):  # not cached, or unhashable (the slow path reports that)
            return self._decide_uncached(action_id).use_links
        if expires > self._timer():
            outcome.cache += 1
            return use_links
        return self._decide_uncached(action_id).use_links

    def evaluate(self, action_id: str) -> Evaluation:
        """The decision for ``action_id`` and why: what ``predicate(action_id)`` decides, with the attributes
        of its ``feature_flag.evaluation`` span event (the instrumentor records it). The same cache, the same
        counting and the same cost as calling the predicate."""
        try:
            expires, _, outcome, evaluated = self._decisions[action_id]
        except (KeyError, TypeError):
            return self._decide_uncached(action_id)
        if expires > self._timer():
            outcome.cache += 1
            return evaluated
        return self._decide_uncached(action_id)

    def prefetch(self, action_ids: Iterable[str], *, timeout: float = 0.0) -> int:
        """Ask the provider now about ``action_ids`` that have no cached decision, so that their first task
        starts are cache hits. Returns how many of them have a cached decision when it returns.

        In-process providers are asked inline (about 10 µs each). Any other provider is asked on the refresh
        threads; ``timeout`` is how long to wait for those answers (0: do not wait). A task start that
        comes while its action_id's prefetch is under way waits for it like for any first decision.
        The instrumentor calls this with the worker's registered action_ids; call it yourself for action_ids
        a process will run that no worker registered. Never raises for a provider problem.
        """
        check_seconds_or_zero("timeout", timeout)
        wanted = list(dict.fromkeys(a for a in action_ids if type(a) is str))[: self._maxsize]
        missing = [a for a in wanted if self.cached(a) is None]
        if evaluates_in_process(self._client.provider):
            for action_id in missing:
                generation = self._generation
                answer = self._ask_provider(action_id)
                with self._lock:
                    self._remember(action_id, answer, generation)
        else:
            refreshes = [self._schedule_refresh(a, bounded=False) for a in missing]
            deadline = time.monotonic() + timeout
            for refresh in refreshes:
                if refresh is not None and not refresh.done.wait(max(0.0, deadline - time.monotonic())):
                    break
        return sum(1 for a in wanted if self.cached(a) is not None)

    def cached(self, action_id: str) -> bool | None:
        """The decision a task start of ``action_id`` would get from the cache right now, else None.
        Asks nobody and counts nothing (for operators and tests)."""
        entry = self._decisions.get(action_id) if type(action_id) is str else None
        return entry.use_links if entry is not None and entry.expires > self._timer() else None

    def invalidate(self) -> None:
        """Drop every cached decision (for providers that do I/O: refresh the known ones in the background).

        Called on the provider's change events; call it yourself after changing flags behind a provider that
        emits none.
        """
        in_process = evaluates_in_process(self._client.provider)
        with self._lock:
            self._generation += 1
            self._decisions = {}
            known = [] if in_process or self._closed else list(self._last_known.keys())
        for action_id in known:
            self._schedule_refresh(action_id)

    def close(self) -> None:
        """Stop listening to provider events and stop the refresh threads (waiting at most a second for
        one stuck in a provider call). Idempotent."""
        with self._lock:
            self._closed = True
            threads = self._refresh_threads.stop()
        self._release()
        join_threads(threads, timeout=1.0)

    def __enter__(self) -> FlagPredicate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"FlagPredicate(flag_key={self._flag_key!r}, ttl={self._ttl}, "
            f"domain={self._client.domain!r}, default={self._default})"
        )

    # -- slow paths -------------------------------------------------------------------------------

    def _decide_uncached(self, action_id: str) -> Evaluation:
        try:
            if type(action_id) is not str:
                raise TypeError(f"action_id must be a str, got {type(action_id).__name__}")
            if evaluates_in_process(self._client.provider):
                return self._evaluate_inline(action_id)
            return self._serve_while_refreshing(action_id)
        except Exception as error:
            self._report_problem(f"cannot decide for {action_id!r}: {error!r}")
            return evaluation(
                str(action_id), self._default, "error", flag_key=self._flag_key, error_type="general"
            )

    def _evaluate_inline(self, action_id: str) -> Evaluation:
        generation = self._generation  # an int read needs no lock; a stale one only skips caching
        answer = self._ask_provider(action_id)
        with self._lock:
            outcome, evaluated = self._remember(action_id, answer, generation)
            if answer.reason is None:
                outcome.fallback += 1
            else:
                outcome.evaluated += 1
        return evaluated

    def _serve_while_refreshing(self, action_id: str) -> Evaluation:
        now = self._timer()
        with self._lock:
            known = self._last_known.get(action_id)
            refresh = self._refreshing.get(action_id)
            in_flight = refresh is not None and self._is_current(refresh, now)
            timed_out = refresh is not None and not in_flight and refresh.generation == self._generation
            may_wait = known is None and self._first_decision_budget > 0 and not self._stalled
        if not in_flight:
            refresh = self._schedule_refresh(action_id)
        if may_wait and refresh is not None:
            if refresh.done.wait(self._first_decision_budget):
                entry = self._decisions.get(action_id)
                if entry is not None:
                    with self._lock:
                        if entry.outcome.reason == "error":  # the provider answered with a failure
                            entry.outcome.fallback += 1
                        else:
                            entry.outcome.evaluated += 1
                    return entry.evaluation
            else:
                self._stalled = True  # until the provider answers a refresh, nobody waits again
        reason = "timeout" if timed_out else ("pending" if known is None else "stale")
        with self._lock:
            outcome = self._tally.outcome(self._default if known is None else known.use_links, reason)
            outcome.fallback += 1
        if known is not None:
            return known.served_as(reason)
        return evaluation(action_id, self._default, reason, flag_key=self._flag_key)

    def _is_current(self, refresh: _Refresh, now: float) -> bool:
        return refresh.generation == self._generation and now - refresh.started < self._refresh_timeout

    def _schedule_refresh(self, action_id: str, *, bounded: bool = True) -> _Refresh | None:
        """Ask the provider about ``action_id`` on a refresh thread; the refresh under way, or None."""
        now = self._timer()
        with self._lock:
            current = self._refreshing.get(action_id)
            if current is not None and self._is_current(current, now):
                return current
            if self._closed or (bounded and self._outstanding_refreshes >= self._max_pending_refreshes):
                return None  # the next task start for this action_id tries again
            refresh = self._refreshing[action_id] = _Refresh(started=now, generation=self._generation)
            self._outstanding_refreshes += 1
            self._refresh_threads.start()
            self._refresh_threads.submit(lambda: self._refresh(action_id, refresh))
            return refresh

    def _refresh(self, action_id: str, refresh: _Refresh) -> None:
        answer: Answer | None = None
        try:
            answer = self._ask_provider(action_id)
        finally:
            with self._lock:
                self._outstanding_refreshes -= 1
                if answer is not None:
                    self._stalled = False
                if self._refreshing.get(action_id) is refresh:
                    del self._refreshing[action_id]
                    if answer is not None and self._is_current(refresh, self._timer()):
                        self._remember(action_id, answer, refresh.generation)
            refresh.done.set()

    def _ask_provider(self, action_id: str) -> Answer:
        """Evaluate the flag for ``action_id``; never raises. May block: only call it inline for in-process
        providers."""
        workflow, _, task = action_id.rpartition(":")
        context = EvaluationContext(targeting_key=action_id, attributes={"workflow": workflow, "task": task})
        provider_name = provider_name_of(self._client)
        try:
            details = self._client.get_boolean_details(self._flag_key, self._default, context)
        except Exception as error:  # hooks or a broken client; the SDK catches provider exceptions itself
            self._report_problem(f"evaluating {self._flag_key!r} raised {error!r}")
            return Answer(self._default, None, ErrorCode.GENERAL, provider_name)
        answer, problem = answer_from(details, self._default, self._flag_key, provider_name)
        if problem is not None:
            self._report_problem(problem)
        else:
            self._last_problem = None
        return answer

    def _remember(self, action_id: str, answer: Answer, generation: int) -> tuple[Outcome, Evaluation]:
        """What to serve for an answer; cached unless the rules changed meanwhile. Holds _lock."""
        current = generation == self._generation
        if answer.reason is None:
            known = self._last_known.get(action_id)
            use_links = self._default if known is None else known.use_links
            outcome = self._tally.outcome(use_links, "error")
            evaluated = answer.evaluation(action_id, self._flag_key, use_links)
            if current and answer.error_code is not ErrorCode.PROVIDER_NOT_READY:
                self._cache(action_id, outcome, evaluated)
            return outcome, evaluated
        outcome = self._tally.outcome(answer.use_links, answer.reason)
        evaluated = answer.evaluation(action_id, self._flag_key, answer.use_links)
        if current:
            self._cache(action_id, outcome, evaluated)
            self._last_known[action_id] = evaluated
        return outcome, evaluated

    def _cache(self, action_id: str, outcome: Outcome, evaluated: Evaluation) -> None:
        """Holds _lock. Re-inserting moves an entry to the end, so eviction takes the least recently
        refreshed action_id."""
        decisions = self._decisions
        if decisions.pop(action_id, None) is None and len(decisions) >= self._maxsize:
            del decisions[next(iter(decisions))]
        decisions[action_id] = _Entry(self._timer() + self._ttl, outcome.use_links, outcome, evaluated)

    def _report_problem(self, message: str) -> None:
        if message != self._last_problem:
            self._last_problem = message
            logger.warning(
                "hatchet-trace-flags: %s; serving the last known decision, else %s mode",
                message,
                "link" if self._default else "parent",
            )

    def _after_fork_in_child(self) -> None:
        # Threads do not survive fork and a lock may have been copied while held by one of them.
        self._lock = threading.Lock()
        self._refresh_threads.forget_after_fork()
        self._refreshing.clear()
        self._outstanding_refreshes = 0
        self._stalled = False


# -- provider events -----------------------------------------------------------------------------

_Handler = Callable[[EventDetails], None]


def _subscribe(
    client: OpenFeatureClient, predicate: weakref.ref[FlagPredicate]
) -> list[tuple[ProviderEvent, _Handler]]:
    def on_configuration_changed(details: EventDetails) -> None:
        target = predicate()
        if target is not None and (details.flags_changed is None or target.flag_key in details.flags_changed):
            target.invalidate()

    # Not PROVIDER_READY: OpenFeature runs a READY handler at once when subscribing to a ready provider,
    # which would drop decisions at random; NOT_READY answers are never cached anyway.
    handlers: list[tuple[ProviderEvent, _Handler]] = [
        (ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_configuration_changed),
    ]
    for event, handler in handlers:
        client.add_handler(event, handler)
    return handlers


def _release(
    client: OpenFeatureClient, handlers: list[tuple[ProviderEvent, _Handler]], threads: RefreshThreads
) -> None:
    """Undo what a predicate set up outside itself; runs on close() or when it is garbage collected."""
    for event, handler in handlers:
        with contextlib.suppress(ValueError):  # already removed, e.g. by api.clear_providers()
            client.remove_handler(event, handler)
    threads.stop()

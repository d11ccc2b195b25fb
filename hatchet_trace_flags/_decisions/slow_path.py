"""What :class:`~hatchet_trace_flags.FlagPredicate` does when its cache cannot answer: evaluate in-process
providers inline, ask any other provider on the refresh threads (waiting at most the first-decision
budget, once), fall back to the last known decision or ``default``, and remember each answer in the
decision cache. ``FlagPredicate`` (in ``predicate.py``) keeps the cache's hot path and its public API.

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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import NamedTuple

from cachetools import LRUCache
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from hatchet_trace_flags._decisions.decision_metrics import Outcome, Tally
from hatchet_trace_flags._decisions.evaluation_event import Evaluation, evaluation
from hatchet_trace_flags._decisions.provider_answer import Answer, answer_from, provider_name_of
from hatchet_trace_flags._decisions.refresh_threads import RefreshThreads

__all__ = ["CachedDecision", "Refresh", "SlowPath", "evaluates_in_process"]

logger = logging.getLogger("hatchet_trace_flags")


def evaluates_in_process(provider: object) -> bool:
    """True when ``provider`` declares that evaluating a flag costs microseconds and never does I/O."""
    return getattr(provider, "evaluates_in_process", False) is True


class CachedDecision(NamedTuple):
    """A cached decision: served until ``expires`` (the predicate's clock), with what its span event says."""

    expires: float
    use_links: bool
    outcome: Outcome
    evaluation: Evaluation


class Refresh:
    """One background refresh; identity tells a current refresh from an abandoned one."""

    __slots__ = ("done", "generation", "started")

    def __init__(self, started: float, generation: int) -> None:
        self.started = started
        self.generation = generation
        self.done = threading.Event()


class SlowPath:
    """The cache-miss paths of ``FlagPredicate`` (which sets every attribute below in its ``__init__``)."""

    _ttl: float
    _refresh_timeout: float
    _first_decision_budget: float
    _maxsize: int
    _max_pending_refreshes: int
    _client: OpenFeatureClient
    _flag_key: str
    _default: bool
    _timer: Callable[[], float]
    _lock: threading.Lock
    _decisions: dict[str, CachedDecision]
    _last_known: LRUCache[str, Evaluation]
    _refreshing: dict[str, Refresh]
    _outstanding_refreshes: int
    _generation: int
    _stalled: bool
    _refresh_threads: RefreshThreads
    _closed: bool
    _tally: Tally
    _last_problem: str | None

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

    def _is_current(self, refresh: Refresh, now: float) -> bool:
        return refresh.generation == self._generation and now - refresh.started < self._refresh_timeout

    def _schedule_refresh(self, action_id: str, *, bounded: bool = True) -> Refresh | None:
        """Ask the provider about ``action_id`` on a refresh thread; the refresh under way, or None."""
        now = self._timer()
        with self._lock:
            current = self._refreshing.get(action_id)
            if current is not None and self._is_current(current, now):
                return current
            if self._closed or (bounded and self._outstanding_refreshes >= self._max_pending_refreshes):
                return None  # the next task start for this action_id tries again
            refresh = self._refreshing[action_id] = Refresh(started=now, generation=self._generation)
            self._outstanding_refreshes += 1
            self._refresh_threads.start()
            self._refresh_threads.submit(lambda: self._refresh(action_id, refresh))
            return refresh

    def _refresh(self, action_id: str, refresh: Refresh) -> None:
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
        decisions[action_id] = CachedDecision(
            self._timer() + self._ttl, outcome.use_links, outcome, evaluated
        )

    def _report_problem(self, message: str) -> None:
        if message != self._last_problem:
            self._last_problem = message
            logger.warning(
                "hatchet-trace-flags: %s; serving the last known decision, else %s mode",
                message,
                "link" if self._default else "parent",
            )

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
arrives, so even the first start of a task is usually a cache hit. A miss evaluates in-process providers
inline and asks any other provider on a few daemon threads, waiting for a first answer at most
``first_decision_budget`` seconds (default 5 ms), once; afterwards it serves the last known decision while
refreshing it in the background. A provider error serves the last known decision, else ``default``. The
details live with the code that does it: :mod:`hatchet_trace_flags._decisions.slow_path`.

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
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Final

from cachetools import LRUCache
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.event import EventDetails, ProviderEvent
from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from hatchet_trace_flags._checks import check_count, check_seconds, check_seconds_or_zero
from hatchet_trace_flags._decisions.decision_metrics import Tally, count_decisions
from hatchet_trace_flags._decisions.evaluation_event import Evaluation
from hatchet_trace_flags._decisions.fork_safety import track
from hatchet_trace_flags._decisions.refresh_threads import RefreshThreads, join_threads
from hatchet_trace_flags._decisions.slow_path import SlowPath, evaluates_in_process
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY

__all__ = ["DEFAULT_FIRST_DECISION_BUDGET", "OPENFEATURE_DOMAIN", "FlagPredicate"]

OPENFEATURE_DOMAIN: Final = "hatchet-trace-flags"
DEFAULT_FIRST_DECISION_BUDGET: Final = 0.005


class FlagPredicate(SlowPath):
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
        self._decisions = {}
        self._last_known = LRUCache(maxsize)  # the last answer that was no error
        self._refreshing = {}
        self._outstanding_refreshes = 0
        self._generation = 0  # bumped on every invalidation; answers from older generations are not cached
        self._stalled = False  # a first-decision wait ran out and the provider has not answered since
        self._refresh_threads = RefreshThreads(refresh_threads)
        self._closed = False

        self._tally = Tally()
        count_decisions(
            meter_provider if meter_provider is not None else metrics.get_meter_provider(), self._tally
        )
        self._last_problem = None

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

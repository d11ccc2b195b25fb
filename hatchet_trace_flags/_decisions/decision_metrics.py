"""The ``hatchet_trace_flags.decisions`` counter: how many link/parent decisions were served, and how.

Counting stays off the hot path: a decision served from the cache is one integer increment on an
:class:`Outcome` shared by every cache entry with the same mode and reason; the OpenTelemetry counter
reads the tallies only at collection time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Final

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

__all__ = ["DECISIONS_METRIC", "SOURCES", "Outcome", "Tally", "count_decisions"]

DECISIONS_METRIC: Final = "hatchet_trace_flags.decisions"
SOURCES: Final = ("cache", "evaluated", "fallback")


class Outcome:
    """What a decision was (mode + reason), with how often it was served from each source.

    One instance per (mode, reason) per predicate, shared by every cache entry with that outcome, so
    counting a cache hit is one integer increment.
    """

    __slots__ = ("cache", "evaluated", "fallback", "mode", "reason", "use_links")

    def __init__(self, use_links: bool, reason: str) -> None:
        self.use_links = use_links
        self.mode = "link" if use_links else "parent"
        self.reason = reason
        self.cache = 0
        self.evaluated = 0
        self.fallback = 0


class Tally:
    """A predicate's outcomes. Copy-on-write: the metric callback reads it without the predicate's lock."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[bool, str], Outcome] = {}

    def outcome(self, use_links: bool, reason: str) -> Outcome:
        outcome = self.outcomes.get((use_links, reason))
        if outcome is None:
            outcome = Outcome(use_links, reason)
            self.outcomes = {**self.outcomes, (use_links, reason): outcome}
        return outcome


class _DecisionCounter:
    """The ``hatchet_trace_flags.decisions`` counter of one meter provider, summing all predicates using it.

    The OTel SDK hands back the first instrument for a repeated name and drops the new callback, hence one
    instrument per meter provider. Tallies are kept after their predicate is gone so the sum stays monotonic.
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        self._tallies: tuple[Tally, ...] = ()
        meter = meter_provider.get_meter("hatchet_trace_flags")
        meter.create_observable_counter(
            DECISIONS_METRIC,
            callbacks=[self._observe],
            unit="{decision}",
            description="Link/parent decisions served to task starts, by mode, reason and source.",
        )

    def add(self, tally: Tally) -> None:
        self._tallies = (*self._tallies, tally)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[str, str, str], int] = {}
        for tally in self._tallies:
            for outcome in tally.outcomes.values():
                for source in SOURCES:
                    count: int = getattr(outcome, source)
                    if count:
                        key = (outcome.mode, outcome.reason, source)
                        totals[key] = totals.get(key, 0) + count
        return [
            Observation(count, {"mode": mode, "reason": reason, "source": source})
            for (mode, reason, source), count in totals.items()
        ]


counters_lock = threading.Lock()
_counters: weakref.WeakKeyDictionary[MeterProvider, _DecisionCounter] = weakref.WeakKeyDictionary()


def count_decisions(meter_provider: MeterProvider, tally: Tally) -> None:
    """Add ``tally`` to the decision counter of ``meter_provider`` (created on first use)."""
    with counters_lock:
        counter = _counters.get(meter_provider)
        if counter is None:
            counter = _counters[meter_provider] = _DecisionCounter(meter_provider)
        counter.add(tally)


def renew_counters_lock_after_fork() -> None:
    global counters_lock
    counters_lock = threading.Lock()

"""The fleet as values: one worker's latest report (:class:`WorkerRow`), the fleet against the served
revision (:class:`Fleet`), and how far one change has reached (:class:`Reach`). No database access.

A worker is *active* while it reported within ``QUIET_AFTER`` (three heartbeats); the fleet's counts are
over active workers only, and a quiet one is listed until the retention sweep forgets it. Workers whose
library predates these reports are known only from the task reports (``reported=False``): their
revision is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from hatchet_trace_flags.contract import WORKER_HEARTBEAT_SECONDS

__all__ = [
    "QUIET_AFTER",
    "Fleet",
    "Reach",
    "WorkerRow",
    "WorkerState",
    "fleet_text",
    "reach_text",
    "worker_state",
]

QUIET_AFTER: Final = timedelta(seconds=3 * WORKER_HEARTBEAT_SECONDS)

WorkerState = Literal["current", "behind", "unknown", "quiet"]


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker: str
    last_seen: datetime
    reported: bool  # False: known only from its task reports (a library without worker reports)
    host: str | None = None
    library_version: str | None = None
    sdk_version: str | None = None
    provider: str | None = None
    source: str | None = None
    revision: int | None = None
    store: str | None = None
    applied_at: datetime | None = None
    revision_seen_at: datetime | None = None
    streaming: bool | None = None


def worker_state(row: WorkerRow, *, revision: int, store: str | None, now: datetime) -> WorkerState:
    """``current`` applies the served revision (or a later one) of this database; ``behind`` an older one
    or another database's; ``unknown`` says nothing about it; ``quiet`` has not reported lately."""
    if now - row.last_seen > QUIET_AFTER:
        return "quiet"
    if row.revision is None:
        return "unknown"
    if row.store is not None and store is not None and row.store != store:
        return "behind"
    return "current" if row.revision >= revision else "behind"


@dataclass(frozen=True, slots=True)
class Fleet:
    revision: int  # the revision this process serves
    store: str | None
    rows: list[tuple[WorkerRow, WorkerState]]
    current: int
    behind: int
    unknown: int
    quiet: int
    behind_last_contact: datetime | None  # the oldest last contact among the workers behind

    @property
    def active(self) -> int:
        return self.current + self.behind + self.unknown


@dataclass(frozen=True, slots=True)
class Reach:
    """How far ``revision`` got: ``reached`` of ``workers`` active workers apply it (or a later one)."""

    revision: int
    changed_at: datetime | None  # when the revision was written (None: no audit event, e.g. revision 0)
    workers: int
    reached: int
    unknown: int  # active workers that do not say what they apply
    # Seconds from the write to the last active worker's first report of it, once all reached it.
    seconds: float | None
    pending: list[str]  # some of the workers not there yet

    @property
    def complete(self) -> bool:
        return self.reached == self.workers - self.unknown


def fleet_text(fleet: Fleet, now: datetime) -> str:
    """ "38 of 40 workers on rev 112; 2 behind, last contact 4 min ago"."""
    if not fleet.active:
        quiet = f" ({fleet.quiet} quiet)" if fleet.quiet else ""
        return f"No worker reported in the last {_duration(QUIET_AFTER.total_seconds())}{quiet}."
    parts = [f"{fleet.current} of {fleet.active} workers on rev {fleet.revision}"]
    if fleet.behind:
        contact = fleet.behind_last_contact
        since = f", last contact {_ago((now - contact).total_seconds())}" if contact is not None else ""
        parts.append(f"{fleet.behind} behind{since}")
    if fleet.unknown:
        parts.append(f"{fleet.unknown} on an unknown revision")
    return "; ".join(parts)


def reach_text(reach: Reach, now: datetime) -> str:
    """ "reached 40/40 workers in 1.3 s", or "37/40 workers after 10 s"."""
    reporting = reach.workers - reach.unknown
    unknown = f" ({reach.unknown} more on an unknown revision)" if reach.unknown else ""
    if not reporting:
        return f"Rev {reach.revision}: no worker reports its revision yet{unknown}."
    if reach.complete:
        took = f" in {reach.seconds:.1f} s" if reach.seconds is not None else ""
        return f"Rev {reach.revision} reached {reach.reached}/{reporting} workers{took}{unknown}."
    after = ""
    if reach.changed_at is not None:
        after = f" after {_duration((now - reach.changed_at).total_seconds())}"
    return f"Rev {reach.revision}: {reach.reached}/{reporting} workers{after}{unknown}."


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds // 60:.0f} min"


def _ago(seconds: float) -> str:
    return "just now" if seconds < 5 else f"{_duration(seconds)} ago"

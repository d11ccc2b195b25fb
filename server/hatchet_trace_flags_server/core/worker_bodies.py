"""Bodies of the workers API: a worker's report of itself (the contract's ``WorkerReport``, strictly
typed: a wrong type, an unknown field or a value past a limit refuses the whole report), the fleet list and
a change's reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hatchet_trace_flags.contract import (
    MAX_RUNNING_PER_REPORT,
    MAX_WORKER_LABEL_LENGTH,
    MAX_WORKER_NAME_LENGTH,
    WORKER_SOURCES,
)

from .bodies import WorkerName, check_text
from .fleet import Fleet, Reach, WorkerRow, WorkerState, fleet_text, reach_text

__all__ = [
    "FleetSummaryOut",
    "ReachOut",
    "WorkerOut",
    "WorkerPage",
    "WorkerReportIn",
    "WorkerReportOut",
    "reach_out",
    "summary_out",
    "worker_out",
]

Name = Annotated[str, Field(min_length=1, max_length=MAX_WORKER_NAME_LENGTH), AfterValidator(check_text)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_WORKER_LABEL_LENGTH), AfterValidator(check_text)]


def _check_source(value: str) -> str:
    if value not in WORKER_SOURCES:
        raise ValueError(f"must be one of {', '.join(WORKER_SOURCES)}")
    return value


Source = Annotated[str, AfterValidator(_check_source)]


class WorkerReportIn(BaseModel):
    """Body of ``POST /api/v1/workers/report`` (``hatchet_trace_flags.contract.WorkerReport``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    worker: WorkerName
    host: Name
    library_version: Label
    sdk_version: Label | None
    provider: Label
    source: Source
    revision: Annotated[int | None, Field(ge=0, lt=2**63)]
    store: Label | None
    applied_at: Annotated[float | None, Field(ge=0, le=1e11, allow_inf_nan=False)]
    streaming: bool
    running: list[str] = Field(default_factory=list, max_length=MAX_RUNNING_PER_REPORT)

    def row(self) -> dict[str, Any]:
        """The columns this report sets (``applied_at`` as a UTC datetime)."""
        values = self.model_dump(exclude={"running"})
        values["applied_at"] = (
            datetime.fromtimestamp(self.applied_at, UTC) if self.applied_at is not None else None
        )
        return values


class WorkerReportOut(BaseModel):
    recorded: bool = Field(description="false: a new worker past the service's worker limit (not kept).")


class WorkerOut(BaseModel):
    worker: str
    revision: int | None = Field(description="The rules revision it applies; null: unknown.")
    state: WorkerState = Field(
        description="current (the served revision or later), behind, unknown (does not say), quiet "
        "(no report for three heartbeats)."
    )
    last_seen: datetime = Field(description="Its last report (of itself or of its tasks).")
    reported: bool = Field(description="false: known only from its task reports (an older library).")
    applied_since: datetime | None = Field(
        None, description="Since when it applies this revision (its clock)."
    )
    store: str | None = None
    host: str | None = None
    library_version: str | None = None
    sdk_version: str | None = None
    provider: str | None = None
    source: str | None = None
    streaming: bool | None = Field(None, description="Following the change stream (else polling).")


class FleetSummaryOut(BaseModel):
    revision: int = Field(description="The revision the service serves.")
    active: int = Field(description="Workers that reported within three heartbeats.")
    current: int
    behind: int
    unknown: int
    quiet: int
    behind_last_contact: datetime | None = Field(description="The oldest last contact of a worker behind.")
    text: str = Field(description='E.g. "38 of 40 workers on rev 112; 2 behind, last contact 4 min ago".')


class WorkerPage(BaseModel):
    summary: FleetSummaryOut
    items: list[WorkerOut]
    limit: int


class ReachOut(BaseModel):
    revision: int
    changed_at: datetime | None = Field(description="When the revision was written.")
    workers: int = Field(description="Active workers.")
    reached: int = Field(description="Active workers that apply this revision or a later one.")
    unknown: int = Field(description="Active workers that do not report what they apply.")
    complete: bool
    seconds: float | None = Field(description="From the write to the last worker's report, once complete.")
    pending: list[str] = Field(description="Some of the workers not there yet.")
    text: str = Field(description='E.g. "reached 40/40 workers in 1.3 s".')


def worker_out(row: WorkerRow, state: WorkerState) -> WorkerOut:
    return WorkerOut(
        worker=row.worker,
        revision=row.revision,
        state=state,
        last_seen=row.last_seen,
        reported=row.reported,
        applied_since=row.applied_at,
        store=row.store,
        host=row.host,
        library_version=row.library_version,
        sdk_version=row.sdk_version,
        provider=row.provider,
        source=row.source,
        streaming=row.streaming,
    )


def summary_out(fleet: Fleet, now: datetime) -> FleetSummaryOut:
    return FleetSummaryOut(
        revision=fleet.revision,
        active=fleet.active,
        current=fleet.current,
        behind=fleet.behind,
        unknown=fleet.unknown,
        quiet=fleet.quiet,
        behind_last_contact=fleet.behind_last_contact,
        text=fleet_text(fleet, now),
    )


def reach_out(reach: Reach, now: datetime) -> ReachOut:
    return ReachOut(
        revision=reach.revision,
        changed_at=reach.changed_at,
        workers=reach.workers,
        reached=reach.reached,
        unknown=reach.unknown,
        complete=reach.complete,
        seconds=reach.seconds,
        pending=reach.pending,
        text=reach_text(reach, now),
    )

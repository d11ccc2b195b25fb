"""Workers: their reports of themselves, the fleet against the served revision, and a change's reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from hatchet_trace_flags.contract import WORKER_REPORT_PATH, WORKERS_PATH
from hatchet_trace_flags_server.core.bodies import ErrorOut
from hatchet_trace_flags_server.core.worker_bodies import (
    ReachOut,
    WorkerPage,
    WorkerReportIn,
    WorkerReportOut,
    reach_out,
    summary_out,
    worker_out,
)
from hatchet_trace_flags_server.http.auth import AdminIdentity, ReadIdentity
from hatchet_trace_flags_server.http.dependencies import ServicesDep
from hatchet_trace_flags_server.http.query_params import Limit
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, tags=["workers"])


@router.post(
    WORKER_REPORT_PATH,
    summary="A worker's report of itself: the revision it applies, its heartbeat (read scope)",
    responses={
        422: {"model": ErrorOut, "description": "A wrong type, an unknown field or a value past a limit"},
        429: {"model": ErrorOut, "description": "Too many reports from this token; see Retry-After"},
    },
)
async def report_worker(
    identity: ReadIdentity, services: ServicesDep, body: WorkerReportIn
) -> WorkerReportOut:
    return WorkerReportOut(recorded=await services.workers.report(identity.name, body))


@router.get(WORKERS_PATH, summary="The workers heard from in the last day, and the fleet's summary")
async def list_workers(_identity: AdminIdentity, services: ServicesDep, limit: Limit = 100) -> WorkerPage:
    fleet = await services.workers.fleet()
    now = datetime.now(UTC)
    return WorkerPage(
        summary=summary_out(fleet, now),
        items=[worker_out(row, state) for row, state in fleet.rows[:limit]],
        limit=limit,
    )


@router.get(
    f"{WORKERS_PATH}/reach",
    summary="How many active workers apply a revision (or a later one), and how fast they got there",
    responses={422: {"model": ErrorOut}},
)
async def revision_reach(
    _identity: AdminIdentity,
    services: ServicesDep,
    revision: Annotated[int, Query(ge=0, lt=2**63, description="A rules revision")],
) -> ReachOut:
    return reach_out(await services.workers.reach(revision), datetime.now(UTC))

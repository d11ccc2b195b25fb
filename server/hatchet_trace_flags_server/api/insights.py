"""Fan-out insight over the JSON API: workers' reports in, per-task numbers and recommendations out."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from hatchet_trace_flags_server.core.bodies import ErrorOut
from hatchet_trace_flags_server.core.insight_bodies import (
    InsightPage,
    InsightsIn,
    InsightsOut,
    TaskInsightOut,
)
from hatchet_trace_flags_server.http.auth import AdminIdentity, ReadIdentity
from hatchet_trace_flags_server.http.dependencies import ServicesDep

__all__ = ["router"]

logger = logging.getLogger("hatchet_trace_flags_server")

router = APIRouter(prefix="/api/v1", tags=["insights"])


@router.post(
    "/tasks/insights",
    summary="Report fan-out summaries (read scope; docs/insight.md, schema 1)",
    responses={
        422: {"model": ErrorOut, "description": "Another schema or bounds, or numbers out of range"},
        429: {"model": ErrorOut, "description": "Too many reports from this token; see Retry-After"},
    },
    response_model_exclude_none=True,
)
async def report_insights(identity: ReadIdentity, services: ServicesDep, body: InsightsIn) -> InsightsOut:
    result = await services.insights.report(identity.name, body)
    if body.dropped:
        logger.info("worker %s could not track the runs of %d more tasks", body.worker, body.dropped)
    return result


@router.get(
    "/insights",
    summary="Fan-out insight of every measured task, with recommendations",
)
async def list_insights(
    _identity: AdminIdentity,
    services: ServicesDep,
    recommended: Annotated[
        bool, Query(description="true: only tasks with a recommendation that is not dismissed")
    ] = False,
) -> InsightPage:
    insights = [insight.out for insight in await services.insights.load()]
    if recommended:
        insights = [
            item for item in insights if item.recommendation is not None and not item.recommendation.dismissed
        ]
    return InsightPage(items=insights, window_seconds=services.insights.window_seconds)


async def _one(services: ServicesDep, action_id: str) -> TaskInsightOut:
    insight = await services.insights.one(action_id)
    if insight is not None:
        return insight.out
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no fan-out numbers for {action_id!r} in the window")


# A task's name is always the last thing in a path, after a prefix that no name can reach into:
# "/tasks/{name}/insights" read a task named "wf:victim/insights" as wf:victim's insight (issue 27;
# the path is percent-decoded before routing, so %2F could not tell them apart).
@router.get(
    "/insights/{action_id:path}",
    summary="One task's fan-out insight",
    responses={404: {"model": ErrorOut, "description": "No numbers for this task in the window"}},
)
async def get_insight(action_id: str, _identity: AdminIdentity, services: ServicesDep) -> TaskInsightOut:
    return await _one(services, action_id)


@router.put(
    "/insight-dismissals/{action_id:path}",
    summary="Dismiss the task's recommendation (it stays hidden while it recommends the same mode)",
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut, "description": "Nothing to dismiss"}},
)
async def dismiss(action_id: str, identity: AdminIdentity, services: ServicesDep) -> TaskInsightOut:
    insight = await _one(services, action_id)
    if insight.recommendation is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{action_id} has no recommendation to dismiss")
    await services.insights.dismiss(action_id, insight.recommendation.mode, identity.name)
    return await _one(services, action_id)


@router.delete(
    "/insight-dismissals/{action_id:path}",
    summary="Show the task's recommendation again",
    responses={404: {"model": ErrorOut}},
)
async def undismiss(action_id: str, _identity: AdminIdentity, services: ServicesDep) -> TaskInsightOut:
    await services.insights.undismiss(action_id)
    return await _one(services, action_id)

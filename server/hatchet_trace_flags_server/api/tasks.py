"""Tasks: the list (configured and seen), per-task modes, and workers' reports of what they run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from hatchet_trace_flags.contract import Mode
from hatchet_trace_flags_server.core.bodies import (
    ErrorOut,
    ForgetIn,
    ForgetOut,
    RuleIn,
    SeenIn,
    SeenOut,
    TaskOut,
    TaskPage,
    check_text,
)
from hatchet_trace_flags_server.core.presenters import task_out
from hatchet_trace_flags_server.core.records import TaskListQuery, TaskRow, TaskSort
from hatchet_trace_flags_server.http.app_state import Services
from hatchet_trace_flags_server.http.auth import AdminIdentity, ReadIdentity
from hatchet_trace_flags_server.http.dependencies import AdminAuthor, ServicesDep
from hatchet_trace_flags_server.http.query_params import Limit, Note, Offset, Search
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["tasks"])

_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Malformed If-Match"},
    412: {"model": ErrorOut, "description": "If-Match is stale; the ETag header is the current one"},
    422: {"model": ErrorOut, "description": "Invalid action_id, mode, note or until"},
}


@router.get(
    "/tasks",
    summary="List configured and discovered tasks",
    responses={422: {"model": ErrorOut, "description": "Invalid filter, sort or cursor"}},
)
async def list_tasks(
    _identity: AdminIdentity,
    services: ServicesDep,
    q: Search = None,
    mode: Annotated[Mode | None, Query(description="Only tasks whose effective mode is this")] = None,
    configured: Annotated[
        bool | None, Query(description="true: only tasks with their own mode; false: only without")
    ] = None,
    sort: Annotated[TaskSort, Query(description="name, mode (effective), seen (last), changed")] = "name",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    after: Annotated[
        str | None,
        Query(max_length=255, description="Sorted by name: the next_after of the previous page"),
        AfterValidator(lambda value: None if value is None else check_text(value)),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TaskPage:
    if after is not None and (sort != "name" or offset):
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "after"), "msg": "after needs sort=name and no offset"}]
        )
    rules = services.flags.rules
    query = TaskListQuery(
        search=q,
        configured=configured,
        mode=mode,
        sort=sort,
        descending=order == "desc",
        after=after,
        limit=limit,
        offset=offset,
    )
    found = await services.flags.list_tasks(query, rules)
    items = [task_out(row, rules) for row in found.rows]
    next_after = items[-1].action_id if sort == "name" and len(items) == limit else None
    return TaskPage(
        items=items,
        total=found.total,
        total_exact=found.total_exact,
        limit=limit,
        offset=offset,
        next_after=next_after,
    )


@router.post(
    "/tasks/seen",
    summary="Report the action_ids a worker runs (read scope)",
    responses={
        422: {"model": ErrorOut},
        429: {"model": ErrorOut, "description": "Too many reports from this token; see Retry-After"},
    },
    response_model_exclude_none=True,
)
async def report_seen(identity: ReadIdentity, services: ServicesDep, body: SeenIn) -> SeenOut:
    result = await services.flags.report_seen(identity.name, body.worker, body.action_ids)
    return SeenOut(recorded=result.recorded, ignored=result.ignored or None)


@router.post(
    "/tasks/forget",
    summary="Forget discovered tasks (their configured modes, if any, stay)",
    responses={422: {"model": ErrorOut}},
)
async def forget_tasks(identity: AdminIdentity, services: ServicesDep, body: ForgetIn) -> ForgetOut:
    return ForgetOut(forgotten=await services.flags.forget(body.action_ids, identity.name))


def _respond(services: Services, row: TaskRow, response: Response) -> TaskOut:
    response.headers["ETag"] = row.rule.etag
    return task_out(row, services.flags.rules)


@router.get(
    "/tasks/{action_id:path}",
    summary="One task",
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def get_task(
    action_id: str, _identity: AdminIdentity, services: ServicesDep, response: Response
) -> TaskOut:
    return _respond(services, await services.flags.task(action_id), response)


@router.put("/tasks/{action_id:path}", summary="Set a task's mode", responses=_WRITE_RESPONSES)
async def put_task(
    action_id: str, body: RuleIn, author: AdminAuthor, services: ServicesDep, response: Response
) -> TaskOut:
    result = await services.flags.set_task(action_id, body.mode, author.noting(body.note), until=body.until)
    return _respond(services, result.record, response)


@router.delete(
    "/tasks/{action_id:path}",
    summary="Clear a task's mode (it follows patterns and the default again)",
    responses={**_WRITE_RESPONSES, 404: {"model": ErrorOut, "description": "No mode configured"}},
)
async def delete_task(
    action_id: str, author: AdminAuthor, services: ServicesDep, response: Response, note: Note = None
) -> TaskOut:
    result = await services.flags.set_task(action_id, None, author.noting(note))
    return _respond(services, result.record, response)

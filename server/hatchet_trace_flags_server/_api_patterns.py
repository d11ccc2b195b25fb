"""Patterns (``prefix*`` or ``*suffix``): list, read, set and clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hatchet_trace_flags._rules import Mode

from ._auth import AdminIdentity
from ._json_input import StrictJSONRoute
from ._models import ErrorOut, PatternOut, PatternPage, RuleIn
from ._services import Services, ServicesDep, change_source, if_match
from ._store import RuleRecord
from ._validation import Limit, Note, Offset, Search

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["patterns"])

_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Malformed If-Match"},
    412: {"model": ErrorOut, "description": "If-Match is stale; the ETag header is the current one"},
    422: {"model": ErrorOut, "description": "Invalid pattern, mode or note"},
}


def pattern_out(record: RuleRecord) -> PatternOut:
    return PatternOut(
        pattern=record.key,
        mode=record.mode,
        note=record.note,
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


@router.get("/patterns", summary="List configured patterns")
async def list_patterns(
    _identity: AdminIdentity,
    services: ServicesDep,
    q: Search = None,
    mode: Annotated[Mode | None, Query(description="Only patterns with this mode")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PatternPage:
    records, total = await services.store.list_patterns(search=q, mode=mode, limit=limit, offset=offset)
    return PatternPage(
        items=[pattern_out(record) for record in records], total=total, limit=limit, offset=offset
    )


async def _respond(services: Services, pattern: str, response: Response) -> PatternOut:
    record = await services.store.get_pattern(pattern)
    response.headers["ETag"] = record.etag
    return pattern_out(record)


@router.get(
    "/patterns/{pattern:path}",
    summary="One pattern (mode null when not configured)",
    responses={422: {"model": ErrorOut}},
)
async def get_pattern(
    pattern: str, _identity: AdminIdentity, services: ServicesDep, response: Response
) -> PatternOut:
    return await _respond(services, pattern, response)


@router.put("/patterns/{pattern:path}", summary="Set a pattern's mode", responses=_WRITE_RESPONSES)
async def put_pattern(
    pattern: str,
    body: RuleIn,
    identity: AdminIdentity,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> PatternOut:
    result = await services.store.set_pattern(
        pattern,
        body.mode,
        note=body.note,
        if_match=if_match(request),
        actor=identity.name,
        source=change_source(request),
    )
    await services.publish(result)
    return await _respond(services, pattern, response)


@router.delete(
    "/patterns/{pattern:path}",
    summary="Remove a pattern",
    responses={**_WRITE_RESPONSES, 404: {"model": ErrorOut, "description": "No such pattern"}},
)
async def delete_pattern(
    pattern: str,
    identity: AdminIdentity,
    services: ServicesDep,
    request: Request,
    response: Response,
    note: Note = None,
) -> PatternOut:
    result = await services.store.set_pattern(
        pattern,
        None,
        note=note,
        if_match=if_match(request),
        actor=identity.name,
        source=change_source(request),
    )
    await services.publish(result)
    return await _respond(services, pattern, response)

"""Patterns (``prefix*`` or ``*suffix``): list, read, set and clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hatchet_trace_flags.contract import Mode
from hatchet_trace_flags_server.core.bodies import ErrorOut, PatternOut, PatternPage, RuleIn
from hatchet_trace_flags_server.core.presenters import pattern_out
from hatchet_trace_flags_server.core.records import RuleRecord
from hatchet_trace_flags_server.http.auth import AdminIdentity
from hatchet_trace_flags_server.http.dependencies import AdminAuthor, ServicesDep
from hatchet_trace_flags_server.http.query_params import Limit, Note, Offset, Search
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["patterns"])

_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Malformed If-Match"},
    412: {"model": ErrorOut, "description": "If-Match is stale; the ETag header is the current one"},
    422: {"model": ErrorOut, "description": "Invalid pattern, mode, note or until"},
}


@router.get("/patterns", summary="List configured patterns")
async def list_patterns(
    _identity: AdminIdentity,
    services: ServicesDep,
    q: Search = None,
    mode: Annotated[Mode | None, Query(description="Only patterns with this mode")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PatternPage:
    records, total = await services.flags.list_patterns(search=q, mode=mode, limit=limit, offset=offset)
    return PatternPage(
        items=[pattern_out(record) for record in records], total=total, limit=limit, offset=offset
    )


def _respond(record: RuleRecord, response: Response) -> PatternOut:
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
    return _respond(await services.flags.pattern(pattern), response)


@router.put("/patterns/{pattern:path}", summary="Set a pattern's mode", responses=_WRITE_RESPONSES)
async def put_pattern(
    pattern: str, body: RuleIn, author: AdminAuthor, services: ServicesDep, response: Response
) -> PatternOut:
    result = await services.flags.set_pattern(pattern, body.mode, author.noting(body.note), until=body.until)
    return _respond(result.record, response)


@router.delete(
    "/patterns/{pattern:path}",
    summary="Remove a pattern",
    responses={**_WRITE_RESPONSES, 404: {"model": ErrorOut, "description": "No such pattern"}},
)
async def delete_pattern(
    pattern: str, author: AdminAuthor, services: ServicesDep, response: Response, note: Note = None
) -> PatternOut:
    result = await services.flags.set_pattern(pattern, None, author.noting(note))
    return _respond(result.record, response)

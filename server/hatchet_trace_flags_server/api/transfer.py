"""The whole rule set out and in: ``GET /api/v1/export`` (ours or flagd's format) and
``POST /api/v1/import``."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from hatchet_trace_flags.contract import REVISION_HEADER, RulesError, RuleSet, to_flagd
from hatchet_trace_flags_server.core.bodies import ErrorOut, ImportOut
from hatchet_trace_flags_server.http.auth import AdminIdentity
from hatchet_trace_flags_server.http.dependencies import ImportAuthor, ServicesDep
from hatchet_trace_flags_server.http.query_params import Note
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["rules"])


@router.get(
    "/export",
    summary="Download the rule set (our format, or a flagd flag definition)",
    responses={200: {"content": {"application/json": {}}}},
)
async def export(
    _identity: AdminIdentity,
    services: ServicesDep,
    format: Annotated[Literal["native", "flagd"], Query(description="native or flagd")] = "native",
) -> Response:
    # With its expiries (a version-2 document, or flagd targeting on $flagd.timestamp), minus any ended.
    current = services.flags.served(with_expiries=True)
    headers = {"ETag": current.etag, REVISION_HEADER: str(current.revision)}
    if format == "flagd":
        body = json.dumps(to_flagd(current.rules), indent=2, sort_keys=True).encode()
        headers["Content-Disposition"] = 'attachment; filename="hatchet-trace-flags.flagd.json"'
    else:
        body = current.body
        headers["Content-Disposition"] = 'attachment; filename="hatchet-trace-flags.rules.json"'
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/import",
    summary="Replace the whole rule set (validated, all or nothing)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RulesDocument"}}},
        }
    },
    responses={
        400: {"model": ErrorOut, "description": "Malformed If-Match"},
        412: {"model": ErrorOut, "description": "The rule set changed (If-Match is the snapshot ETag)"},
        422: {"model": ErrorOut, "description": "Invalid document; nothing was changed"},
    },
)
async def import_rules(
    request: Request, author: ImportAuthor, services: ServicesDep, note: Note = None
) -> ImportOut:
    rules = RuleSet.loads(await request.body())
    if rules.expiries:
        # An import is the whole truth at once; a time-boxed change is made by a write with until.
        raise RulesError(
            "expiries",
            "an import cannot carry time-boxed settings; import the values and time them with until",
        )
    result = await services.flags.import_rules(rules, author.noting(note))
    return ImportOut(
        changed=result.event is not None, revision=result.record.revision, etag=result.record.etag
    )

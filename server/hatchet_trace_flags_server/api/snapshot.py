"""``GET /api/v1/snapshot``: the whole rule set that workers poll, with ``If-None-Match`` answered by 304.

Every worker polls it, so it takes no FastAPI dependency: it authenticates with a plain call
(:func:`authenticate`, the check ``ReadIdentity`` makes) and reads the services off the app. Its four
dependencies cost a 304 more CPU than everything else it does (issue 23).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from hatchet_trace_flags.contract import DOCUMENT_VERSION_HEADER, REVISION_HEADER, STORE_HEADER
from hatchet_trace_flags_server.core.bodies import RulesDocument
from hatchet_trace_flags_server.core.conditions import ConditionError, parse_entity_tags
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.http.auth import READ_SECURITY, authenticate
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute
from hatchet_trace_flags_server.services.served_rules import reads_expiries

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["rules"])


@router.get(
    "/snapshot",
    summary="The whole rule set (poll with If-None-Match; send X-Rules-Document-Version: 2 for expiries)",
    response_model=RulesDocument,
    responses={
        200: {
            "headers": {
                "ETag": {"schema": {"type": "string"}, "description": "Strong ETag of this revision"},
                REVISION_HEADER: {"schema": {"type": "integer"}, "description": "Rule-set revision"},
                STORE_HEADER: {"schema": {"type": "string"}, "description": "Id of the database"},
            }
        },
        304: {"description": "Unchanged since the ETag in If-None-Match (same headers)"},
    },
    openapi_extra=READ_SECURITY,
)
async def snapshot(request: Request) -> Response:
    await authenticate(request)
    services = state_of(request.app).services
    # A worker that announces expiries gets them (version 2 when timed); any other reader the
    # version-1 document of the values in force now, whose ETag changes at each until.
    announced = request.headers.get(DOCUMENT_VERSION_HEADER)
    current = services.flags.served(with_expiries=reads_expiries(announced))
    headers = {
        "ETag": current.etag,
        REVISION_HEADER: str(current.revision),
        "Cache-Control": "no-cache",
        "Vary": DOCUMENT_VERSION_HEADER,
        **services.store_headers,
    }
    presented = request.headers.get("if-none-match")
    if presented is not None:
        if presented == current.etag:  # the common poll: skip parsing
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        try:
            tags = parse_entity_tags(presented, name="If-None-Match")
        except ConditionError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        if tags is not None and tags.weak_match(current.opaque_etag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(current.body, media_type="application/json", headers=headers)

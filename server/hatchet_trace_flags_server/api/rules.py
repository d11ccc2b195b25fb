"""The rule set as a whole: settings, snapshot (polled by workers), export, import, audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hatchet_trace_flags.contract import (
    DOCUMENT_VERSION,
    REVISION_HEADER,
    STORE_HEADER,
    Mode,
    RuleSet,
    to_flagd,
)
from hatchet_trace_flags_server.core.bodies import (
    AuditEventOut,
    AuditPage,
    ErrorOut,
    ImportOut,
    SettingsOut,
    SettingsPatch,
    SettingsPut,
    check_text,
)
from hatchet_trace_flags_server.core.conditions import ConditionError, parse_entity_tags
from hatchet_trace_flags_server.core.records import AuditQuery, SettingsRecord
from hatchet_trace_flags_server.http.auth import AdminIdentity, ReadIdentity
from hatchet_trace_flags_server.http.dependencies import AdminAuthor, ImportAuthor, ServicesDep
from hatchet_trace_flags_server.http.query_params import Note
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["RulesDocument", "router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["rules"])


class RulesDocument(BaseModel):
    """The rule document (docs/rules.md). Imports are checked by the rule model itself, which also
    rejects bad patterns and action_ids."""

    model_config = ConfigDict(extra="forbid", title="RulesDocument")

    version: Literal[1] = DOCUMENT_VERSION
    default: Mode = "parent"
    links_enabled: bool = True
    tasks: dict[str, Mode] = Field(default_factory=dict, description="action_id -> mode")
    patterns: dict[str, Mode] = Field(default_factory=dict, description="prefix* or *suffix -> mode")


def _settings_out(record: SettingsRecord, response: Response) -> SettingsOut:
    response.headers["ETag"] = record.etag
    return SettingsOut(
        default=record.default,
        links_enabled=record.links_enabled,
        note=record.note,
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


_SETTINGS_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Malformed If-Match"},
    412: {"model": ErrorOut, "description": "If-Match is stale; the ETag header is the current one"},
}


@router.get("/settings", summary="Default mode and links kill switch")
async def get_settings(_identity: AdminIdentity, services: ServicesDep, response: Response) -> SettingsOut:
    return _settings_out(await services.flags.settings(), response)


@router.put("/settings", summary="Replace the settings", responses=_SETTINGS_WRITE_RESPONSES)
async def put_settings(
    body: SettingsPut, author: AdminAuthor, services: ServicesDep, response: Response
) -> SettingsOut:
    result = await services.flags.update_settings(
        author.noting(body.note), default=body.default, links_enabled=body.links_enabled
    )
    return _settings_out(result.record, response)


@router.patch("/settings", summary="Change some settings", responses=_SETTINGS_WRITE_RESPONSES)
async def patch_settings(
    body: SettingsPatch, author: AdminAuthor, services: ServicesDep, response: Response
) -> SettingsOut:
    result = await services.flags.update_settings(
        author.noting(body.note), default=body.default, links_enabled=body.links_enabled
    )
    return _settings_out(result.record, response)


@router.get(
    "/snapshot",
    summary="The whole rule set (poll with If-None-Match)",
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
)
async def snapshot(request: Request, _identity: ReadIdentity, services: ServicesDep) -> Response:
    current = services.flags.snapshot
    headers = {
        "ETag": current.etag,
        REVISION_HEADER: str(current.revision),
        "Cache-Control": "no-cache",
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
    current = services.flags.snapshot
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
    result = await services.flags.import_rules(rules, author.noting(note))
    return ImportOut(
        changed=result.event is not None, revision=result.record.revision, etag=result.record.etag
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


_AuditText = Annotated[
    str | None, Query(max_length=256), AfterValidator(lambda v: None if v is None else check_text(v))
]
_Instant = Annotated[datetime | None, Query(), AfterValidator(_aware)]


@router.get("/audit", summary="Audit log, newest first")
async def audit(
    _identity: AdminIdentity,
    services: ServicesDep,
    actor: _AuditText = None,
    kind: Annotated[Literal["task", "pattern", "settings", "import"] | None, Query()] = None,
    key: _AuditText = None,
    since: Annotated[_Instant, Query(description="At or after (ISO 8601; UTC if no offset)")] = None,
    until: Annotated[_Instant, Query(description="Before (ISO 8601; UTC if no offset)")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Revisions below this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    events = await services.flags.audit(
        AuditQuery(
            actor=actor, kind=kind, key=key, since=since, until=until, before_revision=before, limit=limit
        )
    )
    items = [AuditEventOut.model_validate(event.to_json()) for event in events]
    next_before = events[-1].revision if len(events) == limit else None
    return AuditPage(items=items, next_before=next_before)

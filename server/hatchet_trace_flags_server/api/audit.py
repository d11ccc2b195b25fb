"""``GET /api/v1/audit``: the audit log of every change, newest first, filtered and paged by revision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from hatchet_trace_flags_server.core.bodies import AuditEventOut, AuditPage, check_text
from hatchet_trace_flags_server.core.records import AuditQuery
from hatchet_trace_flags_server.http.auth import AdminIdentity
from hatchet_trace_flags_server.http.dependencies import ServicesDep
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["rules"])


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

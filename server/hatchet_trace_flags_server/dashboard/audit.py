"""The audit page (``/audit``): every change, newest first — tasks, patterns, settings and imports —
filtered by who (actor) and what (kind, key). Admin tokens only, like ``GET /api/v1/audit``.

A plain GET form and "older" links by revision: the page works without script and its URL keeps the
filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, get_args
from urllib.parse import urlencode

from fastapi import Query, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hatchet_trace_flags_server.core.bodies import check_text
from hatchet_trace_flags_server.core.records import AuditQuery, ChangeEvent, ChangeKind

from .access import Viewer, services_of
from .rendering import DashboardError, render
from .routing import dashboard_router
from .views import base_context

__all__ = ["AuditEntry"]

router = dashboard_router()

PAGE_SIZE: Final = 50
KINDS: Final = get_args(ChangeKind)

_Filter = Annotated[
    str | None, Field(max_length=256), AfterValidator(lambda v: None if not v else check_text(v))
]


class AuditFilters(BaseModel):
    """The page's URL: who, what, and where the page starts (revisions below ``before``)."""

    model_config = ConfigDict(frozen=True)

    actor: _Filter = None
    kind: ChangeKind | None = None
    key: _Filter = None
    before: Annotated[int | None, Field(ge=1, le=2**62)] = None

    def url(self, **changes: object) -> str:
        values = {**self.model_dump(), **changes}
        return "/audit?" + urlencode({name: value for name, value in values.items() if value})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    event: ChangeEvent
    changes: list[tuple[str, str, str]]  # what changed: (name, before, after)
    note: str | None


def _state(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _switch(state: dict[str, Any]) -> str:
    return "on" if state.get("links_enabled") is True else "off"


def _entry(event: ChangeEvent) -> AuditEntry:
    before, after = _state(event.before), _state(event.after)
    changes: list[tuple[str, str, str]] = []
    if event.kind in ("task", "pattern"):
        changes.append(("mode", before.get("mode") or "none", after.get("mode") or "none"))
    elif event.kind == "settings":
        if before.get("default") != after.get("default"):
            changes.append(("default", str(before.get("default")), str(after.get("default"))))
        if before.get("links_enabled") != after.get("links_enabled"):
            changes.append(("span links", _switch(before), _switch(after)))
    else:  # an import replaces the whole rule set: what it did to each part
        for name in ("default", "links_enabled"):
            if before.get(name) != after.get(name):
                changes.append((name, str(before.get(name)), str(after.get(name))))
        for name in ("tasks", "patterns"):
            old, new = _state(before.get(name)), _state(after.get(name))
            if old != new:
                changes.append((name, str(len(old)), str(len(new))))
    note = after.get("note")
    return AuditEntry(event, changes, note if isinstance(note, str) and note else None)


@router.get("/audit")
async def audit_page(
    request: Request, session: Viewer, filters: Annotated[AuditFilters, Query()]
) -> Response:
    if not session.identity.is_admin:
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            f"The audit log is for admin tokens; {session.identity.name} signed in with a read token.",
        )
    events = await services_of(request).flags.audit(
        AuditQuery(
            actor=filters.actor,
            kind=filters.kind,
            key=filters.key,
            before_revision=filters.before,
            limit=PAGE_SIZE,
        )
    )
    older = filters.url(before=events[-1].revision) if len(events) == PAGE_SIZE else None
    context = {
        **base_context(request, session),
        "filters": filters,
        "kinds": KINDS,
        "entries": [_entry(event) for event in events],
        "older": older,
        "newest": filters.url(before=None) if filters.before else None,
    }
    return render(request, "audit.html", context)

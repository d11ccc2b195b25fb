"""The Workers page (``/workers``): which worker applies which rules revision, and the fleet's summary
("38 of 40 workers on rev 112; 2 behind, last contact 4 min ago"); and the reach notice a write from the
dashboard shows (``/ui/reach``): "Rev 113 reached 40/40 workers in 1.3 s", or "37/40 workers after 10 s".

The notice polls once a second (htmx ``every 1s``) and stops (status 286) once every active worker that
reports its revision applies it, or ``REACH_FOLLOW`` after the write: a handful of small reads per write.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from hatchet_trace_flags_server.core.fleet import Fleet, WorkerRow, WorkerState, fleet_text, reach_text

from .access import AdminViewer, services_of
from .rendering import SECURITY_HEADERS, ago, render, utc
from .routing import dashboard_router
from .views import base_context

__all__ = ["REACH_FOLLOW", "WorkerView"]

router = dashboard_router()

# How long after a write its notice keeps asking how far it got.
REACH_FOLLOW: Final = timedelta(seconds=10)
# htmx stops polling on this status (and still shows the answer).
_STOP_POLLING: Final = 286
_STATE_TEXT: Final[dict[WorkerState, str]] = {
    "current": "current",
    "behind": "behind",
    "unknown": "unknown revision",
    "quiet": "quiet",
}


@dataclass(frozen=True, slots=True)
class WorkerView:
    row: WorkerRow
    state: WorkerState
    state_text: str
    last_seen: str  # "4 min ago"
    last_seen_utc: str
    since: str  # since when it applies its revision


def _views(fleet: Fleet, now: datetime) -> list[WorkerView]:
    order: dict[WorkerState, int] = {"behind": 0, "unknown": 1, "current": 2, "quiet": 3}
    rows = sorted(fleet.rows, key=lambda item: (order[item[1]], item[0].worker))
    return [
        WorkerView(
            row=row,
            state=state,
            state_text=_STATE_TEXT[state],
            last_seen=ago(row.last_seen, now),
            last_seen_utc=utc(row.last_seen),
            since=ago(row.applied_at, now) if row.applied_at is not None else "",
        )
        for row, state in rows
    ]


async def _context(request: Request) -> dict[str, object]:
    fleet = await services_of(request).workers.fleet()
    now = datetime.now(UTC)
    return {"fleet": fleet, "summary": fleet_text(fleet, now), "workers": _views(fleet, now)}


@router.get("/workers")
async def workers_page(request: Request, session: AdminViewer) -> Response:
    context = await _context(request)
    return render(request, "workers.html", {**base_context(request, session), **context})


@router.get("/ui/workers")
async def workers_fragment(request: Request, session: AdminViewer) -> Response:
    """The fleet section alone: the page refreshes it every few seconds."""
    context = await _context(request)
    return render(request, "_workers.html", {**base_context(request, session), **context})


@router.get("/ui/reach")
async def reach_notice(
    request: Request, _session: AdminViewer, revision: Annotated[int, Query(ge=0, lt=2**63)]
) -> Response:
    reach = await services_of(request).workers.reach(revision)
    now = datetime.now(UTC)
    settled = reach.complete or reach.changed_at is None or now - reach.changed_at >= REACH_FOLLOW
    complete = reach.complete and reach.workers > reach.unknown
    return HTMLResponse(
        html.escape(reach_text(reach, now)),
        status_code=_STOP_POLLING if settled else 200,
        headers={**SECURITY_HEADERS, "X-Reach": "complete" if complete else "partial"},
    )

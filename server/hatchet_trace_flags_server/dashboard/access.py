"""Who is asking: the signed-in viewer, the editor whose request carries the session's CSRF token
from this origin, and the form body read once (with the dashboard's limits) for both."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Request, status
from starlette.datastructures import FormData

from hatchet_trace_flags_server.http.app_state import Services, state_of
from hatchet_trace_flags_server.http.sessions import CSRF_FIELD, CSRF_HEADER, Session, is_cross_origin

from .rendering import DashboardError, SignInRequired, optional_session

# Every dashboard form has a handful of fields and no file.
_MAX_FORM_FIELDS: Final = 32


def services_of(request: Request) -> Services:
    return state_of(request.app).services


async def read_form(request: Request) -> FormData:
    """The request's form, parsed with the dashboard's limits. Starlette keeps it on the request:
    the route reads it first (:mod:`.routing`), FastAPI's form models and the CSRF check reuse it."""
    try:
        return await request.form(max_files=0, max_fields=_MAX_FORM_FIELDS)
    except Exception:  # malformed multipart/urlencoded bodies come in many exception types
        raise DashboardError(status.HTTP_400_BAD_REQUEST, "The form could not be read.") from None


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token the request carries: the header (htmx), else the form field (plain forms)."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        value = (await read_form(request)).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    return presented


async def _viewer(request: Request) -> Session:
    session = await optional_session(request)
    if session is None:
        raise SignInRequired
    return session


async def _editor(request: Request, session: Annotated[Session, Depends(_viewer)]) -> Session:
    """A signed-in admin whose request carries the session's CSRF token, from this origin.

    A dependency: FastAPI resolves it before it validates the form, and the handler (which writes)
    runs only after both passed."""
    if is_cross_origin(request):
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            "This request came from another site (Origin check); nothing was changed.",
        )
    if not session.check_csrf(await presented_csrf(request)):
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            "This request did not come from the dashboard (CSRF check failed); nothing was changed. "
            "Reload the page and try again.",
        )
    if not session.identity.is_admin:
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            f"Read-only: {session.identity.name} signed in with a read token; nothing was changed.",
        )
    return session


# ---- the one scope model: a session sees what the API gives its token, and nothing more. A read
# token reads the rule set (GET /api/v1/snapshot: configured tasks and patterns with their modes,
# the default, the kill switch) and the change stream; task history, notes, authors, discovered tasks,
# settings' changes and insights are admin-only in the API, so in the dashboard too.


def sees_everything(session: Session) -> bool:
    """Whether the session's token reads what admin-only API routes serve (else: the rule set)."""
    return session.identity.is_admin


async def _admin_viewer(session: Annotated[Session, Depends(_viewer)]) -> Session:
    if not sees_everything(session):
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            f"{session.identity.name} signed in with a read token, which reads the rule set only "
            "(as in the API); this page needs an admin token.",
        )
    return session


Viewer = Annotated[Session, Depends(_viewer)]
AdminViewer = Annotated[Session, Depends(_admin_viewer)]
Editor = Annotated[Session, Depends(_editor)]

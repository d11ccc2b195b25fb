"""Dashboard rendering: paths and constants, Jinja2 templates and their filters, and how dashboard
errors become pages or htmx notices."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from hatchet_trace_flags.contract import RulesError
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.http.exception_handlers import DATABASE_AWAY
from hatchet_trace_flags_server.http.sessions import CSRF_FIELD, SESSION_COOKIE, Session, SessionKeys

from .timed import KEEP_CHOICES, links_until, pattern_until, task_until

_HERE: Final = Path(__file__).parent  # the dashboard package: templates/ and static/
STATIC_DIR: Final = _HERE / "static"
TEMPLATES_DIR: Final = _HERE / "templates"

PAGE_SIZE: Final = 50
HISTORY_LIMIT: Final = 50
SOURCE: Final = "dashboard"
NOTICE_COOKIE: Final = "htf_notice"
NOTICE_LIFETIME: Final = timedelta(seconds=60)
# The served rules' revision, on fragments that may follow a change (the API's snapshot header).

# No inline script or style anywhere: the page loads only its own files and talks only to itself.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


# --------------------------------------------------------------------------- errors


class DashboardError(Exception):
    """A request the dashboard refuses; ``message`` is shown to the user as is."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def rules_error(error: RulesError) -> DashboardError:
    """A rule the store refused, as the dashboard says it."""
    return DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Not saved: {error.message}.")


class SignInRequired(Exception):
    pass


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def notice_header(message: str, level: str = "info", *, refresh: list[str] | None = None) -> dict[str, str]:
    events: dict[str, object] = {"htf-notice": {"message": message, "level": level}}
    if refresh:
        events["htf-refresh"] = refresh
    # ASCII-escaped JSON: header values must be Latin-1, action_ids need not be.
    return {"HX-Trigger": json.dumps(events, ensure_ascii=True)}


async def dashboard_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DashboardError)
    if is_htmx(request):
        return Response(
            status_code=error.status_code,
            headers={**SECURITY_HEADERS, **notice_header(error.message, "error")},
        )
    try:
        session = await optional_session(request)
    except DATABASE_AWAY:
        session = None  # the page only uses it for the header: show the error, not a second one
    return render(
        request, "error.html", {"message": error.message, "session": session}, status_code=error.status_code
    )


async def sign_in_required(request: Request, _error: Exception) -> Response:
    if is_htmx(request):
        return Response(status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": "/sign-in"})
    return RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)


# --------------------------------------------------------------------------- templates


def _static_versions() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


_STATIC_VERSIONS: Final = _static_versions()


def static_url(name: str) -> str:
    """A URL that changes with the file's content, so browsers never run a stale script."""
    return f"/static/{name}?v={_STATIC_VERSIONS[name]}"


def row_id(key: str) -> str:
    """A stable element id for an action_id or pattern (they may hold any printable character)."""
    return hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            if unit == "day":
                return f"{count} day{'s' if count != 1 else ''} ago"
            return f"{count} {unit} ago"
    return "just now"


def utc(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.globals["static_url"] = static_url
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
templates.env.globals["KEEP_CHOICES"] = KEEP_CHOICES
templates.env.globals["task_until"] = task_until
templates.env.globals["pattern_until"] = pattern_until
templates.env.globals["links_until"] = links_until
templates.env.filters["row_id"] = row_id
templates.env.filters["ago"] = ago
templates.env.filters["utc"] = utc
# A look-alike name with its non-ASCII letters as escapes (\u043e): what tells it from the real one.
templates.env.filters["ascii_escapes"] = lambda text: ascii(text)[1:-1]


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, context, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    assert isinstance(response, HTMLResponse)
    return response


def session_keys(request: Request) -> SessionKeys:
    keys = state_of(request.app).dashboard_sessions
    assert keys is not None, "install_dashboard sets the session keys before any dashboard route runs"
    return keys


async def optional_session(request: Request) -> Session | None:
    return await session_keys(request).current(request.cookies.get(SESSION_COOKIE))

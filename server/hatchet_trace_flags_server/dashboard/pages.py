"""Dashboard routes that read: sign-in and sign-out, the page, its fragments and task history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from hatchet_trace_flags.contract import REVISION_HEADER, Mode, RulesError
from hatchet_trace_flags_server.core.presenters import task_out
from hatchet_trace_flags_server.core.ratelimit import RateLimited
from hatchet_trace_flags_server.core.records import AuditQuery, ChangeEvent, NotFound
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.http.auth_throttle import client_address
from hatchet_trace_flags_server.http.sessions import SessionKeys, clear_strict_cookie, is_cross_origin

from .access import AdminViewer, Viewer, presented_csrf, sees_everything, services_of
from .inputs import HistoryQuery, SignInForm, TaskQuery
from .rendering import (
    HISTORY_LIMIT,
    NOTICE_COOKIE,
    DashboardError,
    is_htmx,
    optional_session,
    render,
    session_keys,
)
from .routing import dashboard_router
from .views import base_context, patterns_context, read_notice, settings_context, tasks_context

router = dashboard_router()

# --------------------------------------------------------------------------- sign in / out


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await optional_session(request) is not None:
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    return _sign_in_form(request, error=None, status_code=status.HTTP_200_OK)


def _sign_in_form(request: Request, *, error: str | None, status_code: int) -> Response:
    nonce = SessionKeys.new_sign_in_nonce()
    context = {"error": error, "session": None, "signin_nonce": nonce}
    response = render(request, "sign_in.html", context, status_code=status_code)
    SessionKeys.set_sign_in_cookie(response, request, nonce)
    return response


def _throttled(request: Request, limited: RateLimited) -> Response:
    response = _sign_in_form(
        request,
        error=f"Too many failed sign-ins. Try again in {limited.retry_after} s.",
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(limited.retry_after)
    return response


@router.post("/sign-in")
async def sign_in(request: Request, form: Annotated[SignInForm, Form()]) -> Response:
    throttle = state_of(request.app).auth_throttle
    client = client_address(request)
    try:
        throttle.check(client)
    except RateLimited as limited:
        return _throttled(request, limited)
    if is_cross_origin(request) or not SessionKeys.check_sign_in_nonce(request, form.signin_nonce):
        return _sign_in_form(
            request,
            error="The sign-in form expired or did not come from this page. Please try again.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    issued = await session_keys(request).start(form.token) if form.token else None
    if issued is None:
        try:
            throttle.failed(client)
        except RateLimited as limited:
            return _throttled(request, limited)
        # Never echo what was typed: the field comes back empty.
        return _sign_in_form(
            request,
            error="That token is not valid. Use an admin token to make changes, or a read token to look.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    _session, cookie = issued
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    SessionKeys.set_session_cookie(response, request, cookie)
    SessionKeys.clear_sign_in_cookie(response, request)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: Viewer) -> Response:
    if is_cross_origin(request) or not session.check_csrf(await presented_csrf(request)):
        raise DashboardError(status.HTTP_403_FORBIDDEN, "Sign-out did not come from the dashboard.")
    await session_keys(request).end(session)  # the cookie, copied or not, is worth nothing from now on
    response = RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    SessionKeys.clear_session_cookie(response, request)
    return response


# --------------------------------------------------------------------------- pages and fragments


@router.get("/")
async def dashboard(request: Request, session: Viewer, query: Annotated[TaskQuery, Query()]) -> Response:
    services = services_of(request)
    everything = sees_everything(session)
    context = {
        **base_context(request, session),
        **await tasks_context(services, query, everything=everything),
        **await patterns_context(services, everything=everything),
        **await settings_context(services, everything=everything),
    }
    notice = read_notice(request)
    response = render(request, "dashboard.html", {**context, "notice": notice})
    if notice is not None:
        clear_strict_cookie(response, request, NOTICE_COOKIE)
    return response


@router.get("/ui/tasks")
async def tasks_fragment(request: Request, session: Viewer, query: Annotated[TaskQuery, Query()]) -> Response:
    if not is_htmx(request):
        return RedirectResponse(query.url("/"), status_code=status.HTTP_303_SEE_OTHER)
    tasks = await tasks_context(services_of(request), query, everything=sees_everything(session))
    context = {**base_context(request, session), **tasks}
    headers = {} if request.headers.get("X-HTF-Refresh") else {"HX-Push-Url": query.url("/")}
    headers[REVISION_HEADER] = str(services_of(request).flags.snapshot.revision)
    return render(request, "_tasks.html", context, headers=headers)


@router.get("/ui/patterns")
async def patterns_fragment(request: Request, session: Viewer) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/#patterns", status_code=status.HTTP_303_SEE_OTHER)
    patterns = await patterns_context(services_of(request), everything=sees_everything(session))
    context = {**base_context(request, session), **patterns}
    return render(request, "_patterns.html", context)


@router.get("/ui/settings")
async def settings_fragment(request: Request, session: Viewer) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    settings = await settings_context(services_of(request), everything=sees_everything(session))
    context = {**base_context(request, session), **settings}
    return render(request, "_settings.html", context)


@router.get("/ui/tasks/history")
async def task_history(
    request: Request, session: AdminViewer, query: Annotated[HistoryQuery, Query()]
) -> Response:

    action_id = query.action_id
    services = services_of(request)
    try:
        row = await services.flags.task(action_id)
    except RulesError as error:
        raise DashboardError(status.HTTP_400_BAD_REQUEST, f"Not a task: {error.message}.") from None
    except NotFound:
        raise DashboardError(
            status.HTTP_404_NOT_FOUND, f"{action_id} is neither configured nor seen."
        ) from None
    events = await services.flags.audit(AuditQuery(kind="task", key=action_id, limit=HISTORY_LIMIT))
    context = {
        **base_context(request, session),
        "task": task_out(row, services.flags.rules),
        "events": [_history_entry(event) for event in events],
        "history_limit": HISTORY_LIMIT,
    }
    return render(request, "_history.html" if is_htmx(request) else "history.html", context)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event: ChangeEvent
    before: Mode | None
    after: Mode | None
    note: str | None


def _history_entry(event: ChangeEvent) -> HistoryEntry:
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    return HistoryEntry(event, before.get("mode"), after.get("mode"), after.get("note"))

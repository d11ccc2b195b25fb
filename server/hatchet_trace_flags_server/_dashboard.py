"""The flag dashboard at ``/``: tasks, patterns, settings and history, live. See docs/dashboard.md.

Server-rendered with Jinja2; htmx (vendored under ``static/``) swaps the fragments the ``/ui/...``
routes return, and plain forms work without it. Every change goes through the service's store, the
same one the JSON API uses, so validation, ``If-Match`` versions and the audit log are shared; the
effective mode and its reason come from the served rule set (``hatchet_trace_flags._rules``).
Open pages follow ``/api/v1/events`` and refresh what a change touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from hatchet_trace_flags._rules import Decision, Mode, RulesError, RuleSet, validate_action_id

from ._auth import add_identity_resolver
from ._conditions import EntityTags
from ._models import MAX_NOTE_LENGTH, TaskOut, check_text
from ._presenters import task_out
from ._services import Services
from ._sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    SessionKeys,
    clear_strict_cookie,
    set_strict_cookie,
)
from ._store import AuditQuery, ChangeEvent, NotFound, PreconditionFailed, TaskRow
from ._task_queries import TaskListQuery

__all__ = ["install_dashboard", "router"]

_HERE: Final = Path(__file__).parent
STATIC_DIR: Final = _HERE / "static"
TEMPLATES_DIR: Final = _HERE / "templates"

PAGE_SIZE: Final = 50
HISTORY_LIMIT: Final = 50
SOURCE: Final = "dashboard"
_NOTICE_COOKIE: Final = "htf_notice"
_NOTICE_LIFETIME: Final = timedelta(seconds=60)
_MAX_QUERY_LENGTH: Final = 255

# No inline script or style anywhere: the page loads only its own files and talks only to itself.
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

Sort = Literal["name", "mode", "seen", "changed"]
Order = Literal["asc", "desc"]
Source = Literal["", "own", "inherited"]
_SORTS: Final[tuple[Sort, ...]] = ("name", "mode", "seen", "changed")
# Newest first is what one wants from a time column; names read best A to Z.
_DEFAULT_ORDER: Final[Mapping[Sort, Order]] = {
    "name": "asc",
    "mode": "asc",
    "seen": "desc",
    "changed": "desc",
}


# --------------------------------------------------------------------------- errors


class DashboardError(Exception):
    """A request the dashboard refuses; ``message`` is shown to the user as is."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class _SignInRequired(Exception):
    pass


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _notice_header(message: str, level: str = "info", *, refresh: list[str] | None = None) -> dict[str, str]:
    events: dict[str, object] = {"htf-notice": {"message": message, "level": level}}
    if refresh:
        events["htf-refresh"] = refresh
    # ASCII-escaped JSON: header values must be Latin-1, action_ids need not be.
    return {"HX-Trigger": json.dumps(events, ensure_ascii=True)}


async def _dashboard_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DashboardError)
    if _is_htmx(request):
        return Response(
            status_code=error.status_code,
            headers={**_SECURITY_HEADERS, **_notice_header(error.message, "error")},
        )
    return _render(
        request,
        "error.html",
        {"message": error.message, "session": _optional_session(request)},
        status_code=error.status_code,
    )


async def _sign_in_required(request: Request, _error: Exception) -> Response:
    if _is_htmx(request):
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
templates.env.filters["row_id"] = row_id
templates.env.filters["ago"] = ago
templates.env.filters["utc"] = utc


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, context, status_code=status_code, headers={**_SECURITY_HEADERS, **(headers or {})}
    )
    assert isinstance(response, HTMLResponse)
    return response


# --------------------------------------------------------------------------- sessions


def _keys(request: Request) -> SessionKeys:
    keys: SessionKeys = request.app.state.dashboard_sessions
    return keys


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _optional_session(request: Request) -> Session | None:
    return _keys(request).verify(request.cookies.get(SESSION_COOKIE))


async def _viewer(request: Request) -> Session:
    session = _optional_session(request)
    if session is None:
        raise _SignInRequired
    return session


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=32)
    except Exception:  # malformed multipart/urlencoded bodies come in many exception types
        raise DashboardError(status.HTTP_400_BAD_REQUEST, "The form could not be read.") from None


async def _editor(request: Request, session: Annotated[Session, Depends(_viewer)]) -> Session:
    """A signed-in admin whose request carries the session's CSRF token."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        value = (await _form(request)).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not session.check_csrf(presented):
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


Viewer = Annotated[Session, Depends(_viewer)]
Editor = Annotated[Session, Depends(_editor)]


# --------------------------------------------------------------------------- form fields


def _text(form: FormData, name: str, *, required: bool = True, max_length: int = 255) -> str:
    value = form.get(name)
    if not isinstance(value, str) or (required and not value.strip()):
        if required:
            raise DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Missing {name}.")
        return ""
    value = value.strip()
    if len(value) > max_length:
        raise DashboardError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} is longer than {max_length} characters."
        )
    return value


def _mode(form: FormData, name: str = "mode", *, allow_inherit: bool = False) -> Mode | None:
    value = _text(form, name)
    if value in ("link", "parent"):
        return value  # type: ignore[return-value]
    if allow_inherit and value == "inherit":
        return None
    allowed = "link, parent or inherit" if allow_inherit else "link or parent"
    raise DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must be {allowed}.")


def _version(form: FormData) -> EntityTags:
    """The version the change was based on, as the If-Match the store checks."""
    value = _text(form, "version")
    if not value.isdigit() or len(value) > 18:
        raise DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, "version must be a whole number.")
    return EntityTags(any=False, strong=frozenset({str(int(value))}), weak=frozenset())


def _note(form: FormData) -> str | None:
    value = form.get("note")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_NOTE_LENGTH:
        raise DashboardError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"The note is longer than {MAX_NOTE_LENGTH} characters."
        )
    try:
        return check_text(value, multiline=True)
    except ValueError as error:
        raise DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, f"The note {error}.") from None


def _return_to(form: FormData) -> str:
    value = form.get("return_to")
    # Only paths on this site: never an open redirect.
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _rules_error(error: RulesError) -> DashboardError:
    return DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Not saved: {error.message}.")


# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class TaskQuery:
    q: str = ""
    mode: Mode | None = None
    source: Source = ""
    sort: Sort = "name"
    order: Order = "asc"
    page: int = 1

    @classmethod
    def from_request(cls, request: Request) -> TaskQuery:
        params = request.query_params
        q = params.get("q", "").strip()
        if len(q) > _MAX_QUERY_LENGTH:
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "The search is longer than 255 characters.")
        try:
            check_text(q)
        except ValueError as error:
            raise DashboardError(status.HTTP_400_BAD_REQUEST, f"The search {error}.") from None
        mode = params.get("mode", "")
        if mode not in ("", "link", "parent"):
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "mode must be link or parent.")
        source = params.get("source", "")
        if source not in ("", "own", "inherited"):
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "source must be own or inherited.")
        sort = params.get("sort", "name")
        if sort not in _SORTS:
            raise DashboardError(status.HTTP_400_BAD_REQUEST, f"sort must be one of {', '.join(_SORTS)}.")
        order = params.get("order", _DEFAULT_ORDER[sort])
        if order not in ("asc", "desc"):
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "order must be asc or desc.")
        page_text = params.get("page", "1")
        if not page_text.isdigit() or not 1 <= int(page_text) <= 1_000_000:
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "page must be a positive whole number.")
        return cls(q, mode or None, source, sort, order, int(page_text))  # type: ignore[arg-type]

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.mode or self.source)

    def url(self, path: str = "/", **changes: object) -> str:
        values = {
            "q": self.q,
            "mode": self.mode or "",
            "source": self.source,
            "sort": self.sort,
            "order": self.order,
            "page": self.page,
        }
        values.update(changes)
        defaults = {"q": "", "mode": "", "source": "", "sort": "name", "page": 1}
        sort = values["sort"]
        kept = {
            name: value
            for name, value in values.items()
            if not (defaults.get(name) == value or (name == "order" and value == _DEFAULT_ORDER[sort]))  # type: ignore[index]
        }
        return f"{path}?{urlencode(kept)}" if kept else path

    def sort_url(self, path: str, column: Sort) -> str:
        toggled: Order = "asc" if self.order == "desc" else "desc"
        order = toggled if column == self.sort else _DEFAULT_ORDER[column]
        return self.url(path, sort=column, order=order, page=1)


@dataclass(frozen=True, slots=True)
class TaskView:
    """One row: the API's view of the task, and the decision its switch shows."""

    task: TaskOut
    # What the rules give, the kill switch aside: with the kill switch on every task is parent, yet the
    # switch still shows (and sets) the task's rule, so turning links back on restores exactly that.
    decision: Decision
    disabled_by_kill_switch: bool

    @property
    def links_on(self) -> bool:
        return self.decision.mode == "link"

    @property
    def configured(self) -> bool:
        return self.task.mode is not None


def _views(rows: list[TaskRow], rules: RuleSet) -> list[TaskView]:
    unkilled = rules if rules.links_enabled else rules.with_settings(links_enabled=True)
    return [
        TaskView(task_out(row, rules), unkilled.evaluate(row.rule.key), not rules.links_enabled)
        for row in rows
    ]


async def _tasks_context(services: Services, query: TaskQuery) -> dict[str, Any]:
    rules = services.feed.snapshot.rules
    configured = {"own": True, "inherited": False}.get(query.source)
    listing = TaskListQuery(
        search=query.q or None,
        configured=configured,
        mode=query.mode,
        sort=query.sort,
        descending=query.order == "desc",
        limit=PAGE_SIZE,
        offset=(query.page - 1) * PAGE_SIZE,
    )
    found = await services.store.list_tasks(listing, rules)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    if not found.total_exact:
        # Counting stopped: one page more while this one is full.
        pages = max(pages, query.page + (1 if len(found.rows) == PAGE_SIZE else 0))
    elif query.page > pages and found.total:
        # Past the last page (the list shrank): show the last one.
        listing = replace(listing, offset=(pages - 1) * PAGE_SIZE)
        found = await services.store.list_tasks(listing, rules)
    page = listing.offset // PAGE_SIZE + 1
    start = listing.offset
    link_count: int | None = None
    if found.total_exact:
        # Per-mode counts only while the total is exact: past it, counting the rarer mode could
        # mean reading every discovered task.
        if query.mode is not None:
            link_count = found.total if query.mode == "link" else 0
        else:
            links = await services.store.list_tasks(replace(listing, mode="link", limit=1, offset=0), rules)
            link_count = links.total
    return {
        "query": query,
        "views": _views(found.rows, rules),
        "total": found.total,
        "total_exact": found.total_exact,
        "page": page,
        "pages": pages,
        "first": start + 1 if found.rows else 0,
        "last": start + len(found.rows),
        "link_count": link_count,
        "any_tasks": bool(found.rows) or query.filtered,
        "links_enabled": rules.links_enabled,
    }


async def _patterns_context(services: Services) -> dict[str, Any]:
    records, total = await services.store.list_patterns(search=None, mode=None, limit=1000, offset=0)
    return {"patterns": records, "pattern_total": total}


async def _settings_context(services: Services) -> dict[str, Any]:
    rules = services.feed.snapshot.rules
    return {
        "settings": await services.store.get_settings(),
        "revision": services.feed.snapshot.revision,
        "link_rules": sum(1 for mode in rules.tasks.values() if mode == "link")
        + sum(1 for mode in rules.patterns.values() if mode == "link"),
    }


def _base_context(_request: Request, session: Session) -> dict[str, Any]:
    return {"session": session, "identity": session.identity, "csrf_token": session.csrf_token}


def _read_notice(request: Request) -> dict[str, str] | None:
    """The notice a plain (script-less) form post left for the page it redirected to."""
    raw = request.cookies.get(_NOTICE_COOKIE)
    if raw is None:
        return None
    try:
        notice = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if isinstance(notice, dict) and isinstance(notice.get("message"), str):
        return {"message": notice["message"][:500], "level": str(notice.get("level", "info"))[:10]}
    return None


def _after_write(
    request: Request,
    form: FormData,
    fragment: HTMLResponse | Response,
    *,
    message: str,
    level: str = "ok",
    revision: int | None = None,
    refresh: list[str] | None = None,
) -> Response:
    """The fragment for htmx, or a redirect back (with the notice in a short-lived cookie) for a form."""
    if _is_htmx(request):
        fragment.headers.update(_notice_header(message, level, refresh=refresh))
        if revision is not None:
            fragment.headers["X-Change-Revision"] = str(revision)
        return fragment
    redirect = RedirectResponse(_return_to(form), status_code=status.HTTP_303_SEE_OTHER)
    payload = base64.urlsafe_b64encode(json.dumps({"message": message, "level": level}).encode()).decode()
    set_strict_cookie(redirect, request, _NOTICE_COOKIE, payload, lifetime=_NOTICE_LIFETIME)
    return redirect


# --------------------------------------------------------------------------- sign in / out


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if _optional_session(request) is not None:
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    return _sign_in_form(request, error=None, status_code=status.HTTP_200_OK)


def _sign_in_form(request: Request, *, error: str | None, status_code: int) -> Response:
    nonce = SessionKeys.new_sign_in_nonce()
    context = {"error": error, "session": None, "signin_nonce": nonce}
    response = _render(request, "sign_in.html", context, status_code=status_code)
    SessionKeys.set_sign_in_cookie(response, request, nonce)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    if not SessionKeys.check_sign_in_nonce(request, _text(form, "signin_nonce", required=False)):
        return _sign_in_form(
            request,
            error="The sign-in form expired or did not come from this page. Please try again.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    token = form.get("token")
    issued = _keys(request).sign_in(token.strip()) if isinstance(token, str) and token.strip() else None
    if issued is None:
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
    form = await _form(request)
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not session.check_csrf(presented if isinstance(presented, str) else None):
        raise DashboardError(status.HTTP_403_FORBIDDEN, "Sign-out did not come from the dashboard.")
    response = RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    SessionKeys.clear_session_cookie(response, request)
    return response


# --------------------------------------------------------------------------- pages and fragments


@router.get("/")
async def dashboard(request: Request, session: Viewer) -> Response:
    services = _services(request)
    query = TaskQuery.from_request(request)
    context = {
        **_base_context(request, session),
        **await _tasks_context(services, query),
        **await _patterns_context(services),
        **await _settings_context(services),
    }
    notice = _read_notice(request)
    response = _render(request, "dashboard.html", {**context, "notice": notice})
    if notice is not None:
        clear_strict_cookie(response, request, _NOTICE_COOKIE)
    return response


@router.get("/ui/tasks")
async def tasks_fragment(request: Request, session: Viewer) -> Response:
    query = TaskQuery.from_request(request)
    if not _is_htmx(request):
        return RedirectResponse(query.url("/"), status_code=status.HTTP_303_SEE_OTHER)
    context = {**_base_context(request, session), **await _tasks_context(_services(request), query)}
    headers = {} if request.headers.get("X-HTF-Refresh") else {"HX-Push-Url": query.url("/")}
    return _render(request, "_tasks.html", context, headers=headers)


@router.get("/ui/patterns")
async def patterns_fragment(request: Request, session: Viewer) -> Response:
    if not _is_htmx(request):
        return RedirectResponse("/#patterns", status_code=status.HTTP_303_SEE_OTHER)
    context = {**_base_context(request, session), **await _patterns_context(_services(request))}
    return _render(request, "_patterns.html", context)


@router.get("/ui/settings")
async def settings_fragment(request: Request, session: Viewer) -> Response:
    if not _is_htmx(request):
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    context = {**_base_context(request, session), **await _settings_context(_services(request))}
    return _render(request, "_settings.html", context)


@router.get("/ui/tasks/history")
async def task_history(request: Request, session: Viewer) -> Response:
    action_id = request.query_params.get("action_id", "")
    services = _services(request)
    try:
        row = await services.store.get_task(action_id)
    except RulesError as error:
        raise DashboardError(status.HTTP_400_BAD_REQUEST, f"Not a task: {error.message}.") from None
    except NotFound:
        raise DashboardError(
            status.HTTP_404_NOT_FOUND, f"{action_id} is neither configured nor seen."
        ) from None
    events = await services.store.list_audit(AuditQuery(kind="task", key=action_id, limit=HISTORY_LIMIT))
    context = {
        **_base_context(request, session),
        "task": task_out(row, services.feed.snapshot.rules),
        "events": [_history_entry(event) for event in events],
        "history_limit": HISTORY_LIMIT,
    }
    return _render(request, "_history.html" if _is_htmx(request) else "history.html", context)


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


# --------------------------------------------------------------------------- task writes


def _row_response(
    request: Request, session: Session, services: Services, row: TaskRow, **extra: Any
) -> HTMLResponse:
    view = _views([row], services.feed.snapshot.rules)[0]
    return _render(request, "_task_row.html", {**_base_context(request, session), "view": view, **extra})


@router.post("/ui/tasks/mode")
async def set_task_mode(request: Request, session: Editor) -> Response:
    services = _services(request)
    form = await _form(request)
    action_id = _text(form, "action_id")
    mode = _mode(form, allow_inherit=True)
    if_match = _version(form)
    note = _note(form)
    try:
        result = await services.store.set_task(
            action_id, mode, note=note, if_match=if_match, actor=session.identity.name, source=SOURCE
        )
    except RulesError as error:
        raise _rules_error(error) from None
    except PreconditionFailed:
        row = await services.store.get_task(action_id)
        now = row.rule.mode or "inherited"
        message = (
            f"Not saved: {action_id} was changed by {row.rule.updated_by or 'someone'} "
            f"{ago(row.rule.updated_at)} (it is now {now}). Check it and try again."
        )
        response = _row_response(request, session, services, row, conflict=True)
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return _after_write(request, form, response, message=message, level="warning")
    except NotFound:
        raise DashboardError(
            status.HTTP_409_CONFLICT, f"{action_id} has no mode of its own to clear."
        ) from None
    await services.publish(result)
    if mode is None:
        message = f"{action_id} follows patterns and the default again."
    else:
        effect = "starts a new trace with a span link" if mode == "link" else "stays a child span (parent)"
        message = f"{action_id} now {effect}."
    try:
        row = await services.store.get_task(action_id)
        fragment: Response = _row_response(request, session, services, row, changed=True)
    except NotFound:  # cleared a task no worker has reported: it leaves the list
        fragment = Response(headers=_SECURITY_HEADERS)
    revision = result.event.revision if result.event is not None else None
    return _after_write(request, form, fragment, message=message, revision=revision)


@router.post("/ui/tasks/forget")
async def forget_task(request: Request, session: Editor) -> Response:
    """Forget a discovered task: it leaves the list unless it has a mode of its own."""
    services = _services(request)
    form = await _form(request)
    action_id = _text(form, "action_id")
    try:
        validate_action_id(action_id)
    except RulesError as error:
        raise _rules_error(error) from None
    forgotten = await services.store.seen.forget([action_id])
    await services.store.insights.forget([action_id])
    message = (
        f"{action_id} is forgotten; a worker that still runs it will report it again."
        if forgotten
        else f"{action_id} was not discovered (nothing to forget)."
    )
    try:
        row = await services.store.get_task(action_id)
        fragment: Response = _row_response(request, session, services, row, changed=True)
    except NotFound:
        fragment = Response(headers=_SECURITY_HEADERS)
    return _after_write(request, form, fragment, message=message)


# --------------------------------------------------------------------------- pattern writes


def _patterns_response(request: Request, session: Session, context: dict[str, Any]) -> HTMLResponse:
    return _render(request, "_patterns.html", {**_base_context(request, session), **context})


async def _write_pattern(
    request: Request,
    session: Session,
    form: FormData,
    pattern: str,
    mode: Mode | None,
    if_match: EntityTags,
    *,
    done: str,
) -> Response:
    services = _services(request)
    try:
        result = await services.store.set_pattern(
            pattern,
            mode,
            note=_note(form),
            if_match=if_match,
            actor=session.identity.name,
            source=SOURCE,
        )
    except RulesError as error:
        raise _rules_error(error) from None
    except PreconditionFailed:
        current = await services.store.get_pattern(pattern)
        message = (
            f"Not saved: pattern {pattern} was changed by {current.updated_by or 'someone'} "
            f"{ago(current.updated_at)}. Check it and try again."
        )
        response = _patterns_response(request, session, await _patterns_context(services))
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return _after_write(request, form, response, message=message, level="warning")
    except NotFound:
        raise DashboardError(status.HTTP_409_CONFLICT, f"Pattern {pattern} was already removed.") from None
    await services.publish(result)
    response = _patterns_response(request, session, await _patterns_context(services))
    revision = result.event.revision if result.event is not None else None
    return _after_write(
        request, form, response, message=done, revision=revision, refresh=["tasks", "settings"]
    )


@router.post("/ui/patterns")
async def add_pattern(request: Request, session: Editor) -> Response:
    form = await _form(request)
    pattern = _text(form, "pattern", max_length=256)
    mode = _mode(form)
    services = _services(request)
    try:
        current = await services.store.get_pattern(pattern)
    except RulesError as error:
        raise _rules_error(error) from None
    if current.mode is not None:
        raise DashboardError(
            status.HTTP_409_CONFLICT,
            f"Pattern {pattern} already exists ({current.mode}); change it in the list instead.",
        )
    # Based on the unconfigured version: two people adding the same pattern cannot both win.
    if_match = EntityTags(any=False, strong=frozenset({str(current.version)}), weak=frozenset())
    return await _write_pattern(
        request, session, form, pattern, mode, if_match, done=f"Added pattern {pattern} → {mode}."
    )


@router.post("/ui/patterns/mode")
async def set_pattern_mode(request: Request, session: Editor) -> Response:
    form = await _form(request)
    pattern = _text(form, "pattern", max_length=256)
    mode = _mode(form)
    return await _write_pattern(
        request, session, form, pattern, mode, _version(form), done=f"Pattern {pattern} → {mode}."
    )


@router.post("/ui/patterns/remove")
async def remove_pattern(request: Request, session: Editor) -> Response:
    form = await _form(request)
    pattern = _text(form, "pattern", max_length=256)
    return await _write_pattern(
        request, session, form, pattern, None, _version(form), done=f"Removed pattern {pattern}."
    )


# --------------------------------------------------------------------------- settings writes


async def _write_settings(
    request: Request,
    session: Session,
    form: FormData,
    *,
    default: Mode | None = None,
    links_enabled: bool | None = None,
    done: str,
) -> Response:
    services = _services(request)
    try:
        result = await services.store.update_settings(
            default=default,
            links_enabled=links_enabled,
            note=_note(form),
            if_match=_version(form),
            actor=session.identity.name,
            source=SOURCE,
        )
    except PreconditionFailed:
        current = await services.store.get_settings()
        message = (
            f"Not saved: the settings were changed by {current.updated_by or 'someone'} "
            f"{ago(current.updated_at)}. Check them and try again."
        )
        response = _render(
            request,
            "_settings.html",
            {**_base_context(request, session), **await _settings_context(services)},
        )
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return _after_write(request, form, response, message=message, level="warning")
    await services.publish(result)
    response = _render(
        request, "_settings.html", {**_base_context(request, session), **await _settings_context(services)}
    )
    revision = result.event.revision if result.event is not None else None
    return _after_write(request, form, response, message=done, revision=revision, refresh=["tasks"])


@router.post("/ui/settings/default")
async def set_default_mode(request: Request, session: Editor) -> Response:
    form = await _form(request)
    mode = _mode(form, "default")
    return await _write_settings(
        request, session, form, default=mode, done=f"Tasks without a rule now default to {mode}."
    )


@router.post("/ui/settings/links")
async def set_links_enabled(request: Request, session: Editor) -> Response:
    form = await _form(request)
    enabled_text = _text(form, "links_enabled")
    if enabled_text not in ("true", "false"):
        raise DashboardError(status.HTTP_422_UNPROCESSABLE_CONTENT, "links_enabled must be true or false.")
    enabled = enabled_text == "true"
    if form.get("confirm") != "yes":
        # The kill switch changes every task at once: ask first (a dialog with scripts, a page without).
        services = _services(request)
        context = {
            **_base_context(request, session),
            **await _settings_context(services),
            "enable": enabled,
            "version_text": _text(form, "version"),
        }
        if _is_htmx(request):
            return _render(
                request,
                "_confirm_links.html",
                context,
                headers={"HX-Retarget": "#dialog-slot", "HX-Reswap": "innerHTML"},
            )
        return _render(request, "confirm_links.html", context)
    return await _write_settings(
        request,
        session,
        form,
        links_enabled=enabled,
        done=(
            "Span links are on again: tasks follow their rules."
            if enabled
            else "Kill switch on: every task stays a child span (parent) until links are turned back on."
        ),
    )


# --------------------------------------------------------------------------- wiring


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` and let its session cookie authenticate API calls too."""
    services: Services = app.state.services
    keys = SessionKeys.for_app(services.settings, services.tokens, app.state.generated_admin_token)
    app.state.dashboard_sessions = keys
    add_identity_resolver(app, keys.resolve)
    app.add_exception_handler(DashboardError, _dashboard_error)
    app.add_exception_handler(_SignInRequired, _sign_in_required)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

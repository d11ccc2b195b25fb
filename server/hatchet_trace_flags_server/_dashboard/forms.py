"""Dashboard request input: who is signed in (viewer, editor with CSRF check), form fields, and the
task list's query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request, status
from starlette.datastructures import FormData

from hatchet_trace_flags._rules import Mode, RulesError
from hatchet_trace_flags_server._conditions import EntityTags
from hatchet_trace_flags_server._models import MAX_NOTE_LENGTH, check_text
from hatchet_trace_flags_server._services import Services
from hatchet_trace_flags_server._sessions import CSRF_FIELD, CSRF_HEADER, Session, is_cross_origin

from .rendering import (
    _DEFAULT_ORDER,
    _MAX_QUERY_LENGTH,
    _SORTS,
    DashboardError,
    Order,
    Sort,
    Source,
    _optional_session,
    _SignInRequired,
)

# --------------------------------------------------------------------------- sessions


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _viewer(request: Request) -> Session:
    session = await _optional_session(request)
    if session is None:
        raise _SignInRequired
    return session


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=32)
    except Exception:  # malformed multipart/urlencoded bodies come in many exception types
        raise DashboardError(status.HTTP_400_BAD_REQUEST, "The form could not be read.") from None


async def _editor(request: Request, session: Annotated[Session, Depends(_viewer)]) -> Session:
    """A signed-in admin whose request carries the session's CSRF token, from this origin."""
    if is_cross_origin(request):
        raise DashboardError(
            status.HTTP_403_FORBIDDEN,
            "This request came from another site (Origin check); nothing was changed.",
        )
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
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
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
        if not (page_text.isascii() and page_text.isdigit()) or not 1 <= int(page_text) <= 1_000_000:
            raise DashboardError(status.HTTP_400_BAD_REQUEST, "page must be a positive whole number.")
        return cls(q, mode or None, source, sort, order, int(page_text))  # type: ignore[arg-type]

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.mode or self.source)

    @property
    def filter_labels(self) -> list[str]:
        """The filters besides the search, named as the no-match message names them."""
        labels = [f"mode {self.mode}"] if self.mode else []
        if self.source:
            labels.append("own setting" if self.source == "own" else "inherited mode")
        return labels

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

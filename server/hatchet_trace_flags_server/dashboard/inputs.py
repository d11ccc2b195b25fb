"""Dashboard input: one pydantic model per form and the task list's query, declared to FastAPI as
``Annotated[Model, Form()]`` or ``Annotated[Model, Query()]``, and how their validation errors read.

Every constraint lives on a model: stripped text with a maximum length, ``Literal`` modes, the
version a change was based on, notes checked like the API's. FastAPI validates before the handler
runs, so a bad field writes nothing; :func:`invalid_input` turns the error into the dashboard's own
message (400 for the list's query parameters, 422 for form fields), naming each field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import status
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hatchet_trace_flags.contract import Mode, RulesError, validate_action_id, validate_pattern
from hatchet_trace_flags_server.core.bodies import MAX_NOTE_LENGTH, check_text
from hatchet_trace_flags_server.core.conditions import EntityTags

from .rendering import DashboardError
from .timed import TimedFields, blank_to_none

__all__ = [
    "AddPatternForm",
    "ApplyInsightForm",
    "DashboardForm",
    "DefaultModeForm",
    "ForgetTaskForm",
    "HistoryQuery",
    "InsightForm",
    "LinksForm",
    "PatternModeForm",
    "RemovePatternForm",
    "SignInForm",
    "TaskModeForm",
    "TaskQuery",
    "invalid_input",
]

_MAX_TEXT_LENGTH: Final = 255
_MAX_QUERY_LENGTH: Final = 255
_MAX_PATTERN_LENGTH: Final = 256
_MAX_VERSION_DIGITS: Final = 18
_MAX_PAGE: Final = 1_000_000
_MAX_MESSAGES: Final = 5
# How a field is called in a message, where its name is not what the page calls it.
_LABELS: Final = {"q": "search"}


# --------------------------------------------------------------------------- field types


def _refuse(message: str) -> PydanticCustomError:
    """An error whose message is shown as is (the message goes in the context: no template)."""
    return PydanticCustomError("dashboard", "{message}", {"message": message})


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _checked(value: str) -> str:
    return check_text(value, multiline=True)


def _action_id(value: str) -> str:
    return validate_action_id(value)  # a RulesError is a ValueError: pydantic reports it


def _pattern(value: str) -> str:
    return validate_pattern(value)


def _version(value: object) -> int:
    # ASCII digits only: "²".isdigit() is true and int("²") raises.
    text = value.strip() if isinstance(value, str) else ""
    if not text:  # FastAPI versions differ on whether a blank form field reaches the model
        raise _refuse("Missing version.")
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_VERSION_DIGITS:
        raise _refuse("The version must be a whole number.")
    return int(text)


def _page(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):  # a default or a copy, not a request
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 7:
        number = int(value)
    else:
        number = 0
    if not 1 <= number <= _MAX_PAGE:
        raise _refuse("The page must be a positive whole number.")
    return number


def _safe_return_to(value: object) -> str:
    # Only paths on this site: never an open redirect.
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=_MAX_TEXT_LENGTH)]
ActionId = Annotated[Text, AfterValidator(_action_id)]
Pattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=_MAX_PATTERN_LENGTH),
    AfterValidator(_pattern),
]
RuleMode = Annotated[Mode, BeforeValidator(_stripped)]
# Blank is no note; otherwise the API's rules: printable text (newlines and tabs allowed), bounded.
Note = Annotated[
    str | None,
    Field(max_length=MAX_NOTE_LENGTH),
    AfterValidator(lambda value: None if value is None else _checked(value)),
    BeforeValidator(blank_to_none),
]
Version = Annotated[int, PlainValidator(_version)]
ReturnTo = Annotated[str, PlainValidator(_safe_return_to)]


# --------------------------------------------------------------------------- forms


class DashboardForm(BaseModel):
    """A form post: where a plain (script-less) post returns to. Unknown fields (the CSRF token,
    which :mod:`.access` checks) are ignored."""

    model_config = ConfigDict(frozen=True)

    return_to: ReturnTo = "/"


class _Versioned(DashboardForm):
    version: Version

    @property
    def if_match(self) -> EntityTags:
        """The version the change was based on, as the If-Match the store checks."""
        return EntityTags(any=False, strong=frozenset({str(self.version)}), weak=frozenset())


class _Change(_Versioned):
    note: Note = None


class TaskModeForm(_Change, TimedFields):
    action_id: ActionId
    mode: Annotated[Literal["link", "parent", "inherit"], BeforeValidator(_stripped)]

    @property
    def rule_mode(self) -> Mode | None:
        """The mode to store; ``None`` clears the task's own mode (it inherits again)."""
        return None if self.mode == "inherit" else self.mode


class ForgetTaskForm(DashboardForm):
    action_id: ActionId


class AddPatternForm(DashboardForm, TimedFields):
    pattern: Pattern
    mode: RuleMode
    note: Note = None


class PatternModeForm(_Change, TimedFields):
    pattern: Pattern
    mode: RuleMode


class RemovePatternForm(_Change):
    pattern: Pattern


class DefaultModeForm(_Change):
    default: RuleMode


class LinksForm(_Change, TimedFields):
    """The kill switch: the first post asks (``confirm`` absent), the confirmed one writes."""

    links_enabled: Annotated[Literal["true", "false"], BeforeValidator(_stripped)]
    confirm: Annotated[Literal["yes"] | None, BeforeValidator(blank_to_none)] = None

    @property
    def enabled(self) -> bool:
        return self.links_enabled == "true"


class InsightForm(DashboardForm):
    action_id: ActionId


class ApplyInsightForm(_Versioned):
    action_id: ActionId


class SignInForm(BaseModel):
    model_config = ConfigDict(frozen=True)

    signin_nonce: Annotated[str, StringConstraints(strip_whitespace=True, max_length=_MAX_TEXT_LENGTH)] = ""
    # Tokens have no upper length; a sign-in form's field still has one.
    token: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4096)] = ""


# --------------------------------------------------------------------------- queries

Sort = Literal["name", "mode", "seen", "changed"]
Order = Literal["asc", "desc"]
Source = Literal["", "own", "inherited"]
# Newest first is what one wants from a time column; names read best A to Z.
_DEFAULT_ORDER: Final[Mapping[Sort, Order]] = {
    "name": "asc",
    "mode": "asc",
    "seen": "desc",
    "changed": "desc",
}


class HistoryQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    action_id: ActionId


class TaskQuery(BaseModel):
    """The task list's search, filters, sort and page (its URL, too: links keep what is set)."""

    model_config = ConfigDict(frozen=True)

    q: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=_MAX_QUERY_LENGTH),
        AfterValidator(check_text),
    ] = ""
    mode: Annotated[Mode | None, BeforeValidator(blank_to_none)] = None
    source: Source = ""
    sort: Sort = "name"
    # Without one, the sort's own default (set before validation, so never None after it). None, not
    # "asc", as the field's default: FastAPI versions that fill defaults in before validating must
    # not make a missing order look like a chosen one.
    order: Order | None = None
    page: Annotated[int, PlainValidator(_page)] = 1

    @model_validator(mode="before")
    @classmethod
    def _sort_default_order(cls, data: Any) -> Any:
        # Newest first for a time column unless the URL says otherwise.
        if isinstance(data, dict) and data.get("order") is None:
            sort = data.get("sort", "name")
            for column, order in _DEFAULT_ORDER.items():
                if column == sort:
                    return {**data, "order": order}
        return data

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
        query = self.model_copy(update=changes)
        values: dict[str, object] = {
            "q": query.q,
            "mode": query.mode or "",
            "source": query.source,
            "sort": query.sort,
            "order": query.order,
            "page": query.page,
        }
        defaults: dict[str, object] = {
            "q": "",
            "mode": "",
            "source": "",
            "sort": "name",
            "order": _DEFAULT_ORDER[query.sort],
            "page": 1,
        }
        kept = {name: value for name, value in values.items() if value != defaults[name]}
        return f"{path}?{urlencode(kept)}" if kept else path

    def sort_url(self, path: str, column: Sort) -> str:
        toggled: Order = "asc" if self.order == "desc" else "desc"
        order = toggled if column == self.sort else _DEFAULT_ORDER[column]
        return self.url(path, sort=column, order=order, page=1)


# --------------------------------------------------------------------------- messages


def _choices(expected: str) -> str:
    """pydantic's ``"'', 'link' or 'parent'"`` as the page says it: ``link or parent``."""
    names = [name for name in re.findall(r"'([^']*)'", expected) if name]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _message(error: Any) -> str:
    location = tuple(error.get("loc", ()))
    name = str(location[-1]) if len(location) > 1 else "form"
    label = _LABELS.get(name, name)
    kind = error.get("type")
    context = error.get("ctx") or {}
    if kind == "dashboard":
        return str(context.get("message"))
    if kind in ("missing", "string_too_short"):
        return f"Missing {label}."
    if kind == "string_too_long":
        return f"The {label} is longer than {context.get('max_length')} characters."
    if kind == "literal_error":
        return f"The {label} must be {_choices(str(context.get('expected', '')))}."
    cause = context.get("error")
    if isinstance(cause, RulesError):
        if location[:1] == ("query",):  # a page asked for: nothing was going to be saved
            return f"The {label} is not valid: {cause.message}."
        return f"Not saved: {cause.message}."
    if isinstance(cause, ValueError):
        return f"The {label} {cause}."
    return f"The {label} is not valid: {error.get('msg', 'invalid')}."


def invalid_input(error: RequestValidationError) -> DashboardError:
    """The dashboard's answer to input its models refused: every problem, each naming its field."""
    errors = list(error.errors())
    messages = list(dict.fromkeys(_message(item) for item in errors[:_MAX_MESSAGES]))
    in_query = any(tuple(item.get("loc", ()))[:1] == ("query",) for item in errors)
    code = status.HTTP_400_BAD_REQUEST if in_query else status.HTTP_422_UNPROCESSABLE_CONTENT
    return DashboardError(code, " ".join(messages) or "The form is not valid.")

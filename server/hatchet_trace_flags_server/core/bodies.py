"""Request and response bodies of the JSON API (they also make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from hatchet_trace_flags.contract import DOCUMENT_VERSION, MAX_SEEN_PER_REPORT, Mode

__all__ = [
    "AuditEventOut",
    "AuditPage",
    "ErrorOut",
    "ForgetIn",
    "ForgetOut",
    "ImportOut",
    "PatternOut",
    "PatternPage",
    "RuleIn",
    "RulesDocument",
    "SeenIn",
    "SeenOut",
    "SettingsOut",
    "SettingsPatch",
    "SettingsPut",
    "TaskOut",
    "TaskPage",
    "check_text",
]

MAX_NOTE_LENGTH = 1000


def check_text(value: str, *, multiline: bool = False) -> str:
    """Printable text only: control characters (NUL above all) have no place in names or notes."""
    allowed = "\n\t" if multiline else ""
    for character in value:
        if not character.isprintable() and character not in allowed:
            raise ValueError(f"must not contain control or invisible characters (U+{ord(character):04X})")
    return value


Note = Annotated[
    str | None,
    Field(max_length=MAX_NOTE_LENGTH, description="Why; shown in the list and the audit log."),
    AfterValidator(lambda value: None if value is None else check_text(value, multiline=True)),
]
WorkerName = Annotated[
    str, Field(min_length=1, max_length=255), AfterValidator(lambda value: check_text(value))
]


# Parsed and checked by the service (contract.parse_until; the limit is max_until_seconds), so every
# caller gets the same refusals; here only its shape for the OpenAPI schema.
Until = Annotated[
    str | None,
    Field(
        max_length=64,
        description="Time-boxed change: RFC 3339 with an offset (e.g. 2026-01-31T15:00:00Z). At that time "
        "the setting returns to what it was before this write. In the future, at most max_until_seconds "
        "ahead (30 days by default). A later write without until cancels the return.",
        json_schema_extra={"format": "date-time"},
    ),
]
UntilOut = Annotated[
    datetime | None,
    Field(description="When a time-boxed setting ends (RFC 3339, UTC); null when it does not."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleIn(_Strict):
    """Body of ``PUT /api/v1/tasks/{action_id}`` and ``PUT /api/v1/patterns/{pattern}``."""

    mode: Mode
    note: Note = None
    until: Until = None


class SettingsPut(_Strict):
    default: Mode
    links_enabled: StrictBool = Field(description="false is the kill switch: every task in parent mode")
    note: Note = None
    until: Until = Field(None, description="Times links_enabled (the default is never timed); see RuleIn.")


class SettingsPatch(_Strict):
    default: Mode | None = None
    links_enabled: StrictBool | None = None
    note: Note = None
    until: Until = Field(None, description="Times links_enabled, which must be given with it.")


class SeenIn(_Strict):
    worker: WorkerName
    action_ids: list[str] = Field(max_length=MAX_SEEN_PER_REPORT)


class SeenOut(BaseModel):
    recorded: int = Field(description="action_ids now known (new or refreshed).")
    ignored: int | None = Field(
        None,
        description="New action_ids dropped because the discovered-task limit is reached (absent: none).",
    )


class ForgetIn(_Strict):
    action_ids: list[str] = Field(min_length=1, max_length=MAX_SEEN_PER_REPORT)


class ForgetOut(BaseModel):
    forgotten: int = Field(description="Discovered tasks deleted (their rules, if any, stay).")


class TaskOut(BaseModel):
    action_id: str
    mode: Mode | None = Field(description="The mode configured for exactly this task, if any.")
    effective_mode: Mode = Field(description="What a worker does for this task now.")
    reason: Literal["exact", "pattern", "default", "disabled"]
    rule: str | None = Field(description="The action_id or pattern that decided effective_mode.")
    note: str | None
    version: int = Field(description="Version of this task's setting; its ETag for If-Match.")
    updated_at: datetime | None
    updated_by: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    last_worker: str | None
    until: UntilOut = None
    reverts_to: Mode | None = Field(
        None, description="The mode this task returns to at `until` (null: no mode of its own, or no until)."
    )
    look_alike: str | None = Field(
        None,
        description="Set when the name mixes scripts (Unicode TS #39), e.g. a Cyrillic letter among Latin "
        "ones: it may render like another task's name. Says why.",
    )


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int = Field(description="Tasks that match; when total_exact is false, at least this many.")
    total_exact: bool = Field(True, description="false: more than `total` match (counting stops there).")
    limit: int
    offset: int
    next_after: str | None = Field(
        None, description="Sorted by name: pass as `after` for the next page (faster than offset)."
    )


class PatternOut(BaseModel):
    pattern: str
    mode: Mode | None
    note: str | None
    version: int
    updated_at: datetime | None
    updated_by: str | None
    until: UntilOut = None
    reverts_to: Mode | None = Field(
        None, description="The mode this pattern returns to at `until` (null: removed, or no until)."
    )


class PatternPage(BaseModel):
    items: list[PatternOut]
    total: int
    limit: int
    offset: int


class SettingsOut(BaseModel):
    default: Mode
    links_enabled: bool
    note: str | None
    version: int
    updated_at: datetime | None
    updated_by: str | None
    until: UntilOut = Field(None, description="When links_enabled returns to reverts_to; null: it does not.")
    reverts_to: bool | None = Field(None, description="links_enabled from `until` on (null without until).")


class AuditEventOut(BaseModel):
    revision: int
    etag: str
    kind: Literal["task", "pattern", "settings", "import"]
    key: str | None
    before: Any
    after: Any
    actor: str
    source: str
    at: datetime


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page.")


class ImportOut(BaseModel):
    changed: bool
    revision: int
    etag: str


class ErrorOut(BaseModel):
    detail: str
    field: str | None = None


class RulesDocument(BaseModel):
    """The rule document (docs/rules.md). Imports are checked by the rule model itself, which also
    rejects bad patterns and action_ids."""

    model_config = ConfigDict(extra="forbid", title="RulesDocument")

    version: Literal[1] = DOCUMENT_VERSION
    default: Mode = "parent"
    links_enabled: bool = True
    tasks: dict[str, Mode] = Field(default_factory=dict, description="action_id -> mode")
    patterns: dict[str, Mode] = Field(default_factory=dict, description="prefix* or *suffix -> mode")

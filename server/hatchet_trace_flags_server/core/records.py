"""What the store reads and writes: rule and settings records, the rule-set snapshot, change
events, and the errors a write can end in. Plain values, no database access."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

from hatchet_trace_flags.contract import Expiry, Mode, RuleSet, format_until

from .conditions import EntityTags, quote_etag

__all__ = [
    "COUNT_LIMIT",
    "EXPIRY_SOURCE",
    "AuditQuery",
    "Author",
    "ChangeEvent",
    "ChangeKind",
    "NotFound",
    "PreconditionFailed",
    "RuleRecord",
    "RulesSnapshot",
    "SeenResult",
    "SettingsRecord",
    "TaskList",
    "TaskListQuery",
    "TaskRow",
    "TaskSort",
    "WriteResult",
]

_R = TypeVar("_R")

ChangeKind = Literal["task", "pattern", "settings", "import"]
# The audit source of a revert at a timed setting's end (its actor names who set it).
EXPIRY_SOURCE: Final = "expiry"
TaskSort = Literal["name", "mode", "seen", "changed"]
# Task-list counts stop here: past it a list says "more than COUNT_LIMIT", which costs a bounded
# scan instead of one over every row.
COUNT_LIMIT: Final = 10_000


class NotFound(LookupError):
    """Nothing is configured under that key."""


class PreconditionFailed(Exception):
    """``If-Match`` did not match the current version; ``current_etag`` is the quoted tag now."""

    def __init__(self, current_etag: str, what: str) -> None:
        super().__init__(f"{what} changed since you read it (now {current_etag}); re-read and retry")
        self.current_etag = current_etag


@dataclass(frozen=True, slots=True)
class Author:
    """Who asks for a change, from where (``api``, ``cli``, ``dashboard``...), why (the note) and on
    which version it is based (``If-Match``): recorded in the audit log, checked against the data."""

    actor: str
    source: str
    note: str | None = None
    if_match: EntityTags | None = None

    def noting(self, note: str | None) -> Author:
        return replace(self, note=note)


@dataclass(frozen=True, slots=True)
class RulesSnapshot:
    """The whole rule set at one revision, with its strong ETag and serialized body."""

    revision: int
    rules: RuleSet
    etag: str  # quoted, as sent in the ETag header
    body: bytes  # RuleSet.to_document() as canonical JSON, ready to send

    @classmethod
    def of(cls, revision: int, rules: RuleSet) -> RulesSnapshot:
        body = rules.dumps().encode()
        digest = hashlib.sha256(body).hexdigest()[:20]
        return cls(revision, rules, quote_etag(f"{revision}-{digest}"), body)

    @property
    def opaque_etag(self) -> str:
        return self.etag[1:-1]


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A task or pattern rule; ``mode is None`` means nothing is configured (version 0: never was)."""

    key: str
    mode: Mode | None
    note: str | None
    version: int
    updated_at: datetime | None
    updated_by: str | None
    # A pending expiry: at ``until`` the mode returns to ``reverts_to`` (None: no mode of its own).
    until: datetime | None = None
    reverts_to: Mode | None = None

    @property
    def etag(self) -> str:
        return quote_etag(str(self.version))

    def until_or(self, fallback: datetime) -> datetime:
        return fallback if self.until is None else self.until

    @property
    def expiry(self) -> Expiry | None:
        return None if self.until is None else Expiry(self.until, self.reverts_to)

    def state(self) -> dict[str, object]:
        state: dict[str, object] = {"mode": self.mode, "note": self.note, "version": self.version}
        if self.until is not None:
            state |= {"until": format_until(self.until), "reverts_to": self.reverts_to}
        return state


@dataclass(frozen=True, slots=True)
class SettingsRecord:
    default: Mode
    links_enabled: bool
    note: str | None
    version: int
    updated_at: datetime | None
    updated_by: str | None
    # The kill switch's pending expiry: at ``links_until`` links_enabled returns to ``links_reverts_to``;
    # ``links_until_by`` set it.
    links_until: datetime | None = None
    links_reverts_to: bool | None = None
    links_until_by: str | None = None

    @property
    def etag(self) -> str:
        return quote_etag(str(self.version))

    @property
    def links_expiry(self) -> Expiry | None:
        if self.links_until is None:
            return None
        return Expiry(self.links_until, bool(self.links_reverts_to))

    def state(self) -> dict[str, object]:
        state: dict[str, object] = {
            "default": self.default,
            "links_enabled": self.links_enabled,
            "note": self.note,
            "version": self.version,
        }
        if self.links_until is not None:
            state |= {"until": format_until(self.links_until), "reverts_to": self.links_reverts_to}
        return state


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task the list shows: configured, seen by a worker, or both."""

    rule: RuleRecord
    first_seen: datetime | None
    last_seen: datetime | None
    last_worker: str | None
    # Another known task this one renders like, letter for letter (core/lookalike.py), if any.
    imitates: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    revision: int
    etag: str
    kind: ChangeKind
    key: str | None
    before: Any
    after: Any
    actor: str
    source: str
    at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "etag": self.etag,
            "kind": self.kind,
            "key": self.key,
            "before": self.before,
            "after": self.after,
            "actor": self.actor,
            "source": self.source,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class WriteResult(Generic[_R]):
    """What a write left behind. ``event``/``snapshot`` are ``None`` when nothing changed."""

    record: _R
    event: ChangeEvent | None
    snapshot: RulesSnapshot | None

    @property
    def revision(self) -> int | None:
        """The revision this write made, ``None`` when it changed nothing."""
        return self.event.revision if self.event is not None else None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    kind: str | None = None
    key: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_revision: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class TaskListQuery:
    """What a task list asks for: filters, sort, and a page (by keyset ``after`` or ``offset``)."""

    search: str | None = None
    configured: bool | None = None
    mode: Mode | None = None  # effective mode
    sort: TaskSort = "name"
    descending: bool = False
    after: str | None = None  # keyset: only with sort="name"
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TaskList:
    """One page of tasks and how many match (exact up to :data:`COUNT_LIMIT`)."""

    rows: list[TaskRow]
    total: int
    total_exact: bool


@dataclass(frozen=True, slots=True)
class SeenResult:
    """What a worker's report of its tasks did."""

    recorded: int  # action_ids now known (new or refreshed)
    ignored: int  # new action_ids dropped because the table is full

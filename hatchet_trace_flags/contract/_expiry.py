"""Expiries: time-boxed settings of a rule set ("link for one hour").

A setting written with an expiry carries the time it ends (``until``, aware, UTC) and the state it
returns to then (``reverts_to``: what it was before the timed write). For a task or a pattern that
state is a mode, or ``None`` when the key had no mode of its own; for the kill switch it is a bool::

    rules = RuleSet(tasks={"a:b": "link"}, expiries=Expiries(tasks={"a:b": Expiry(until, None)}))
    rules.at(until).tasks                 # {}: the task follows patterns and the default again
    rules.next_expiry                     # until
    rules.settled(now).to_document()      # version 1: the values in force at ``now``, no expiries

A rule set with expiries is written as a version-2 document (``"expiries"`` beside ``"tasks"``); one
without is the version-1 document that older libraries read. Parsing and formatting of the times lives
here (:func:`parse_until`, :func:`format_until`) so the service and the workers agree on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from ._decision import Mode, RulesError, json_type_name

__all__ = ["TIMED_DOCUMENT_VERSION", "Expiries", "Expiry", "format_until", "parse_until"]

# The document version that carries expiries; version 1 documents have none.
TIMED_DOCUMENT_VERSION: Final = 2

_RFC_3339: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_EXPIRY_KEYS: Final = frozenset({"until", "reverts_to"})
_SECTION_KEYS: Final = frozenset({"tasks", "patterns", "links_enabled"})


def parse_until(value: object, *, field: str = "until") -> datetime:
    """An RFC 3339 time with an offset (``Z`` or ``+02:00``), as an aware UTC datetime.

    A time without an offset is refused: whose local time it meant cannot be known."""
    if not isinstance(value, str):
        raise RulesError(field, f"must be an RFC 3339 time string, got {json_type_name(value)}")
    # RFC 3339 allows a lower-case t and z; fromisoformat does not, and reads more than RFC 3339.
    text = value.upper()
    if _RFC_3339.fullmatch(text) is None:
        raise RulesError(
            field,
            f"needs an RFC 3339 date, time and offset (e.g. 2026-01-31T15:00:00Z), got {value[:64]!r}",
        )
    try:
        # OverflowError: a time at the edge of year 1 or 9999 that UTC moves out of range.
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise RulesError(field, f"not a valid time: {value[:64]!r}") from None


def format_until(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the one spelling documents and API answers use."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Expiry:
    """When a timed setting ends and what it returns to then."""

    until: datetime
    reverts_to: Mode | bool | None

    def __post_init__(self) -> None:
        if not isinstance(self.until, datetime) or self.until.tzinfo is None:
            raise RulesError("until", f"must be an aware datetime, got {self.until!r}")
        object.__setattr__(self, "until", self.until.astimezone(UTC))

    def to_json(self) -> dict[str, object]:
        return {"until": format_until(self.until), "reverts_to": self.reverts_to}


def _empty() -> Mapping[str, Expiry]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Expiries:
    """The pending expiries of a rule set, by where they apply."""

    tasks: Mapping[str, Expiry] = field(default_factory=_empty)
    patterns: Mapping[str, Expiry] = field(default_factory=_empty)
    links_enabled: Expiry | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", MappingProxyType(dict(sorted(self.tasks.items()))))
        object.__setattr__(self, "patterns", MappingProxyType(dict(sorted(self.patterns.items()))))

    def __reduce__(self) -> tuple[type[Expiries], tuple[dict[str, Expiry], dict[str, Expiry], Expiry | None]]:
        # Mapping proxies do not pickle.
        return (type(self), (dict(self.tasks), dict(self.patterns), self.links_enabled))

    def __bool__(self) -> bool:
        return bool(self.tasks or self.patterns or self.links_enabled)

    @property
    def next_until(self) -> datetime | None:
        """The earliest ``until``, ``None`` without expiries."""
        times = [expiry.until for expiry in (*self.tasks.values(), *self.patterns.values())]
        if self.links_enabled is not None:
            times.append(self.links_enabled.until)
        return min(times, default=None)

    @staticmethod
    def updated(entries: Mapping[str, Expiry], key: str, expiry: Expiry | None) -> dict[str, Expiry]:
        """``entries`` with ``key`` set to ``expiry`` (``None``: without ``key``)."""
        updated = dict(entries)
        if expiry is None:
            updated.pop(key, None)
        else:
            updated[key] = expiry
        return updated

    @staticmethod
    def check(expiries: object, tasks: Mapping[str, Mode], patterns: Mapping[str, Mode]) -> None:
        """Refuse expiries that do not fit the rules they belong to."""
        # An expiry belongs to a setting in force: a timed task or pattern must have its (timed) mode.
        if not isinstance(expiries, Expiries):
            raise RulesError("expiries", f"must be Expiries, got {type(expiries).__name__}")
        sections = (("tasks", expiries.tasks, tasks), ("patterns", expiries.patterns, patterns))
        for name, timed, entries in sections:
            for key, expiry in timed.items():
                where = f"expiries[{name!r}][{key!r}]"
                if key not in entries:
                    raise RulesError(where, f"has no mode in {name}")
                if expiry.reverts_to not in ("link", "parent", None):
                    raise RulesError(where, "reverts_to must be 'link', 'parent' or null")
        links = expiries.links_enabled
        if links is not None and not isinstance(links.reverts_to, bool):
            raise RulesError("expiries['links_enabled']", "reverts_to must be true or false")

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "tasks": {key: expiry.to_json() for key, expiry in self.tasks.items()},
            "patterns": {key: expiry.to_json() for key, expiry in self.patterns.items()},
        }
        if self.links_enabled is not None:
            document["links_enabled"] = self.links_enabled.to_json()
        return document

    @classmethod
    def from_json(cls, section: object) -> Expiries:
        if not isinstance(section, Mapping):
            raise RulesError("expiries", f"must be an object, got {json_type_name(section)}")
        for key in section:
            if key not in _SECTION_KEYS:
                expected = ", ".join(sorted(_SECTION_KEYS))
                raise RulesError(f"expiries[{key!r}]", f"unknown key; expected {expected}")
        entries: dict[str, dict[str, Expiry]] = {}
        for name in ("tasks", "patterns"):
            given = section.get(name, {})
            if not isinstance(given, Mapping):
                raise RulesError(f"expiries[{name!r}]", f"must be an object, got {json_type_name(given)}")
            entries[name] = {
                str(key): _expiry_from_json(value, field=f"expiries[{name!r}][{key!r}]", modes=True)
                for key, value in given.items()
            }
        links = section.get("links_enabled")
        return cls(
            tasks=entries["tasks"],
            patterns=entries["patterns"],
            links_enabled=None
            if links is None
            else _expiry_from_json(links, field="expiries['links_enabled']", modes=False),
        )


def _expiry_from_json(value: object, *, field: str, modes: bool) -> Expiry:
    if not isinstance(value, Mapping):
        raise RulesError(field, f"must be an object with until and reverts_to, got {json_type_name(value)}")
    if set(value) != _EXPIRY_KEYS:
        raise RulesError(field, "needs exactly the keys until and reverts_to")
    reverts_to = value["reverts_to"]
    if modes and reverts_to not in ("link", "parent", None):
        raise RulesError(f"{field}['reverts_to']", "must be 'link', 'parent' or null")
    if not modes and not isinstance(reverts_to, bool):
        raise RulesError(f"{field}['reverts_to']", "must be true or false")
    return Expiry(parse_until(value["until"], field=f"{field}['until']"), reverts_to)

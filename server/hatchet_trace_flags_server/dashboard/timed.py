"""Timed changes on the dashboard (issue 25): the "Keep: for 1 h / until ..." choice that goes with the
next task, pattern or kill-switch write (like the note), and how a timed setting reads in the list
("link until 15:00 UTC (in 42 min), then parent"; ``dashboard.js`` keeps the countdown going and shows
the time in the browser's zone).

Without script the choice is not sent (like the note: both are outside the forms and htmx includes
them); the datetime field has no zone, so the page's script sends the browser's offset with it, and
a value without one is read as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Final, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from hatchet_trace_flags_server.core.presenters import time_left, until_when
from hatchet_trace_flags_server.core.records import RuleRecord, SettingsRecord

__all__ = [
    "KEEP_CHOICES",
    "TimedFields",
    "Until",
    "blank_to_none",
    "links_until",
    "pattern_until",
    "task_until",
    "until_view",
]

# What the "Keep" menu offers besides "until changed" and "until ...": the durations people ask for.
KEEP_CHOICES: Final[dict[str, tuple[str, timedelta]]] = {
    "15m": ("for 15 min", timedelta(minutes=15)),
    "1h": ("for 1 h", timedelta(hours=1)),
    "4h": ("for 4 h", timedelta(hours=4)),
    "1d": ("for 1 day", timedelta(days=1)),
}
_MAX_OFFSET_MINUTES: Final = 18 * 60  # what a UTC offset can be


def blank_to_none(value: object) -> object:
    """A form field left blank (or only spaces) is no value: browsers send every field, filled or not."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class TimedFields(BaseModel):
    """The "Keep" fields a timed write carries: ``keep`` (a duration key, ``until`` or blank),
    ``until_local`` (``YYYY-MM-DDTHH:MM`` from a datetime-local field) and ``tz_offset`` (minutes east
    of UTC, the browser's at that time)."""

    keep: Annotated[Literal["15m", "1h", "4h", "1d", "until"] | None, BeforeValidator(blank_to_none)] = None
    until_local: Annotated[str | None, BeforeValidator(blank_to_none), Field(max_length=32)] = None
    tz_offset: Annotated[
        int,
        BeforeValidator(lambda value: blank_to_none(value) or 0),
        Field(ge=-_MAX_OFFSET_MINUTES, le=_MAX_OFFSET_MINUTES),
    ] = 0

    @model_validator(mode="after")
    def _until_needs_a_time(self) -> TimedFields:
        if self.keep == "until":
            self._local_until()  # refuses a missing or malformed time before anything is written
        return self

    def _local_until(self) -> datetime:
        if self.until_local is None:
            raise PydanticCustomError(
                "dashboard", "{message}", {"message": "Pick the time to keep it until."}
            )
        try:
            moment = datetime.fromisoformat(self.until_local)
        except ValueError:
            raise PydanticCustomError(
                "dashboard", "{message}", {"message": f"Not a date and time: {self.until_local!r}."}
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone(timedelta(minutes=self.tz_offset)))
        return moment

    def until(self, now: datetime | None = None) -> datetime | None:
        """When the write reverts, or None for a write that stays. Whether it is too soon or too far
        ahead is the service's rule (a 4xx naming its limit)."""
        if self.keep is None:
            return None
        if self.keep == "until":
            return self._local_until()
        return (now if now is not None else datetime.now(UTC)) + KEEP_CHOICES[self.keep][1]


@dataclass(frozen=True, slots=True)
class Until:
    """A timed setting as the list shows it; ``at`` also goes to the page for the countdown."""

    at: datetime
    when: str  # "until 15:00 UTC"
    left: str  # "in 42 min"
    reverts_to: str  # "parent", "not configured", "span links on"

    @property
    def text(self) -> str:
        return f"{self.when} ({self.left}), then {self.reverts_to}"


def until_view(at: datetime | None, reverts_to: str | None, now: datetime | None = None) -> Until | None:
    if at is None:
        return None
    at = at.astimezone(UTC)
    left = (at - (now if now is not None else datetime.now(UTC))).total_seconds()
    return Until(at, until_when(at, left), time_left(left), reverts_to or "not configured")


def task_until(until: datetime | None, reverts_to: str | None) -> Until | None:
    """A task's pending revert; to ``None``: it follows patterns and the default again."""
    return until_view(until, reverts_to or "inherited")


def pattern_until(record: RuleRecord) -> Until | None:
    """A pattern's pending revert; to ``None``: the pattern goes."""
    return until_view(record.until, record.reverts_to or "removed")


def links_until(settings: SettingsRecord) -> Until | None:
    """The kill switch's pending revert."""
    if settings.links_until is None:
        return None
    return until_view(
        settings.links_until, "span links on" if settings.links_reverts_to else "span links off"
    )

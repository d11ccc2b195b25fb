"""Timed writes on the command line (issue 25): ``--for 30m`` or ``--until TIME`` on task, pattern and
kill-switch writes, sent as the API's ``until`` (RFC 3339 with its offset), and how a timed setting is
shown ("link until 15:00 UTC (in 42 min), then parent").

Only the shape is checked here (a clear exit-2 message for ``--for 30x`` or a time in the past); how
far ahead ``until`` may be is the service's rule, answered with a 4xx that names its limit.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from hatchet_trace_flags_server.core.presenters import time_left, until_when

from .client import CommandError

__all__ = [
    "add_timed_arguments",
    "describe_until",
    "parse_duration",
    "parse_until",
    "until_of",
]

_UNITS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION: Final = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_DURATION_HELP: Final = "a duration such as 30m, 1h, 2h30m, 1d or 90s"
_UNTIL_HELP: Final = (
    "an RFC 3339 time with its offset (2026-12-07T15:00:00Z, 2026-12-07T16:00:00+01:00) "
    "or HH:MM, the next such time on this machine's clock"
)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``2h30m``, ``1d``, ``90s`` (units in that order, each once); more than zero."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"expected {_DURATION_HELP}, got {text!r}")
    seconds = sum(
        int(value) * size for value, size in zip(match.groups(), _UNITS.values(), strict=True) if value
    )
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be more than zero, got {text!r}")
    return timedelta(seconds=seconds)


def parse_until(text: str, now: datetime | None = None) -> datetime:
    """An RFC 3339 date-time with an offset (``Z`` or ``+01:00``), or ``HH:MM[:SS]``: the next such time
    in this machine's time zone (today, or tomorrow if it has passed). Never a naive time: a time
    without an offset would mean different instants on the operator's machine and the service."""
    stripped = text.strip()
    current = now if now is not None else datetime.now(UTC)
    clock = _CLOCK.fullmatch(stripped)
    if clock is not None:
        hour, minute, second = (int(part) if part else 0 for part in clock.groups())
        local_now = current.astimezone()
        moment = datetime.combine(local_now.date(), time(hour, minute, second), local_now.tzinfo)
        if moment <= local_now:
            moment += timedelta(days=1)
        return moment
    try:
        # fromisoformat takes RFC 3339 (and "Z") from Python 3.11 on; "T" or a space between the parts.
        moment = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {_UNTIL_HELP}; got {text!r}") from None
    if "T" not in stripped.upper() and " " not in stripped:
        raise argparse.ArgumentTypeError(f"expected a time of day as well as a date, got {text!r}")
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no offset: add Z for UTC or the offset, e.g. {stripped}Z or {stripped}+01:00"
        )
    return moment


def add_timed_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--for`` and ``--until`` (one or the other) on a write."""
    timed = parser.add_mutually_exclusive_group()
    timed.add_argument(
        "--for",
        dest="for_duration",
        type=parse_duration,
        metavar="DURATION",
        help=f"{what} only for this long, then back to what it was: {_DURATION_HELP}",
    )
    timed.add_argument(
        "--until",
        dest="until_time",
        type=parse_until,
        metavar="TIME",
        help=f"{what} only until then, then back to what it was: {_UNTIL_HELP}",
    )


def until_of(
    arguments: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> str | None:
    """The ``until`` to send for ``--for``/``--until``, or None; a time that has passed is refused."""
    duration: timedelta | None = getattr(arguments, "for_duration", None)
    moment: datetime | None = getattr(arguments, "until_time", None)
    current = now()
    if duration is not None:
        moment = current + duration
    if moment is None:
        return None
    if moment <= current:
        raise CommandError(f"--until {_iso(moment)} has passed already", exit_code=2)
    return _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def describe_until(item: Mapping[str, Any], now: datetime | None = None) -> str:
    """``" until 15:00 UTC (in 42 min), then parent"`` for an item with an ``until``; ``""`` without."""
    text = item.get("until")
    if not isinstance(text, str):
        return ""
    moment = datetime.fromisoformat(text)
    left = (moment - (now if now is not None else datetime.now(UTC))).total_seconds()
    described = f" {until_when(moment, left)} ({time_left(left)})"
    if "reverts_to" in item:
        reverts_to = item["reverts_to"]
        if isinstance(reverts_to, Mapping):
            reverts_to = reverts_to.get("mode", reverts_to.get("links_enabled"))
        described += f", then {_state(reverts_to)}"
    return described


def _state(value: object) -> str:
    if value is None:
        return "not configured"
    if isinstance(value, bool):
        return f"links_enabled {str(value).lower()}"
    return str(value)

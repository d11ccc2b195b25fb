"""How records become API bodies, shared by the JSON API and the dashboard (two families of routes
side by side above the service layer; neither imports the other)."""

from __future__ import annotations

from datetime import UTC, datetime

from hatchet_trace_flags.contract import RuleSet

from .bodies import PatternOut, SettingsOut, TaskOut
from .names.lookalike import look_alike
from .records import RuleRecord, SettingsRecord, TaskRow

__all__ = ["human_seconds", "pattern_out", "settings_out", "task_out", "time_left", "until_when"]


def task_out(row: TaskRow, rules: RuleSet) -> TaskOut:
    decision = rules.evaluate(row.rule.key)
    return TaskOut(
        action_id=row.rule.key,
        mode=row.rule.mode,
        effective_mode=decision.mode,
        reason=decision.reason.value,
        rule=decision.rule,
        note=row.rule.note,
        version=row.rule.version,
        updated_at=row.rule.updated_at,
        updated_by=row.rule.updated_by,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        last_worker=row.last_worker,
        until=row.rule.until,
        reverts_to=row.rule.reverts_to,
        look_alike=look_alike(row.rule.key, imitates=row.imitates),
    )


def pattern_out(record: RuleRecord) -> PatternOut:
    return PatternOut(
        pattern=record.key,
        mode=record.mode,
        note=record.note,
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
        until=record.until,
        reverts_to=record.reverts_to,
    )


def settings_out(record: SettingsRecord) -> SettingsOut:
    return SettingsOut(
        default=record.default,
        links_enabled=record.links_enabled,
        note=record.note,
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
        until=record.links_until,
        reverts_to=record.links_reverts_to if record.links_until is not None else None,
    )


def human_seconds(value: float) -> str:
    """A duration as people read it: ``850 µs``, ``12 ms``, ``3.4 s``, ``2.5 min``."""
    if value < 1.0:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1e6:.0f} µs"
    if value < 120.0:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def until_when(moment: datetime, left_seconds: float) -> str:
    """When a timed setting ends, as the CLI and the dashboard write it: ``until 15:00 UTC``, with the
    date once it is a day or more away."""
    at = moment.astimezone(UTC)
    return f"until {at.strftime('%H:%M UTC') if left_seconds < 86_400 else at.strftime('%Y-%m-%d %H:%M UTC')}"


def time_left(seconds: float) -> str:
    """How long until a timed setting reverts: ``in 37 s``, ``in 42 min``, ``in 2 h 5 min``."""
    if seconds <= 0:
        return "reverting now"
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"in {int(seconds)} s"
    if minutes < 90:
        return f"in {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"in {hours} h {rest} min" if rest else f"in {hours} h"

"""The revert of a time-boxed setting at its ``until``, as a rule-set change like any other.

Each revert is one transaction that first bumps the revision in ``rule_state``, the row lock every writer
takes (PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite). Only after holding it does the transaction look for
what is due, and PostgreSQL's READ COMMITTED gives that statement a fresh view: a replica that waited
for another's revert finds the expiry already cleared and rolls its bump back. So with any number of
replicas, and after any restart, each expiry is reverted, and audited, exactly once; the stored state
and the audit log change in the same commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags_server.core.records import (
    EXPIRY_SOURCE,
    Author,
    ChangeKind,
    RuleRecord,
    SettingsRecord,
    WriteResult,
)
from hatchet_trace_flags_server.store.schema import pattern_rules, task_rules, utcnow

from .reads import rule_record
from .writes import RuleWrites, write_settings

__all__ = ["TimedRuleWrites", "expiry_actor"]

_ACTOR_LENGTH: Final = 64  # audit_events.actor


def expiry_actor(set_by: str | None) -> str:
    """The audit actor of a revert: the expiry, naming who set it."""
    return f"expiry:{set_by or 'unknown'}"[:_ACTOR_LENGTH]


class TimedRuleWrites(RuleWrites):
    """:class:`RuleWrites` plus the revert of what has ended."""

    async def revert_due(self, now: datetime) -> WriteResult[RuleRecord | SettingsRecord] | None:
        """Revert the earliest setting whose ``until`` is not after ``now``; ``None`` when nothing is
        due (any more: another replica may just have reverted it)."""
        try:
            return await self._revert_due(now)
        except _NothingDue:
            return None

    async def _revert_due(self, now: datetime) -> WriteResult[RuleRecord | SettingsRecord]:
        async with self._write() as connection:
            revision, settings = await self._bump(connection)
            due = await _earliest_due(connection, now)
            links_until = settings.links_until or now
            links_due = settings.links_until is not None and links_until <= now
            if due is None and not links_due:
                # Raising rolls the revision bump back.
                raise _NothingDue
            at = utcnow()
            if links_due and (due is None or links_until <= due[2].until_or(now)):
                actor = expiry_actor(settings.links_until_by)
                new_settings = SettingsRecord(
                    settings.default,
                    bool(settings.links_reverts_to),
                    settings.note,
                    settings.version + 1,
                    at,
                    actor,
                )
                await write_settings(connection, new_settings)
                rules = (await self._rules_before(connection, revision, settings)).with_settings(
                    links_enabled=new_settings.links_enabled
                )
                record: RuleRecord | SettingsRecord = new_settings
                kind: ChangeKind = "settings"
                key = None
                before, after = settings.state(), new_settings.state()
            else:
                assert due is not None  # links not due, so a rule is
                kind, table, current = due
                actor = expiry_actor(current.updated_by)
                record = RuleRecord(current.key, current.reverts_to, None, current.version + 1, at, actor)
                key_column = table.c.action_id if kind == "task" else table.c.pattern
                await connection.execute(
                    table.update()
                    .where(key_column == current.key)
                    .values(
                        mode=record.mode,
                        note=None,
                        version=record.version,
                        updated_at=at,
                        updated_by=actor,
                        until=None,
                        reverts_to=None,
                    )
                )
                rules = await self._rules_before(connection, revision, settings)
                rules = (
                    rules.with_task(current.key, record.mode)
                    if kind == "task"
                    else rules.with_pattern(current.key, record.mode)
                )
                key = current.key
                before, after = current.state(), record.state()
            event, snapshot = await self._finish(
                connection,
                Author(actor, EXPIRY_SOURCE),
                revision=revision,
                rules=rules,
                kind=kind,
                key=key,
                before=before,
                after=after,
                at=at,
            )
        return WriteResult(record, event, snapshot)


class _NothingDue(Exception):
    pass


async def _earliest_due(
    connection: AsyncConnection, now: datetime
) -> tuple[ChangeKind, sa.Table, RuleRecord] | None:
    found: list[tuple[ChangeKind, sa.Table, RuleRecord]] = []
    sources: tuple[tuple[ChangeKind, sa.Table, sa.Column[str]], ...] = (
        ("task", task_rules, task_rules.c.action_id),
        ("pattern", pattern_rules, pattern_rules.c.pattern),
    )
    for kind, table, key_column in sources:
        row = (
            (
                await connection.execute(
                    table.select().where(table.c.until <= now).order_by(table.c.until, key_column).limit(1)
                )
            )
            .mappings()
            .one_or_none()
        )
        if row is not None:
            found.append((kind, table, rule_record(row[key_column.name], row)))
    return min(found, key=lambda item: item[2].until_or(now), default=None)

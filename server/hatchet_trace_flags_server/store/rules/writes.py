"""The transactions that change the rule set: one rule, the settings, or the whole set at once.

Every change is one transaction that first bumps the rule-set revision in the single ``rule_state``
row. That row lock (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite) serialises writers, so the version
checks behind ``If-Match`` read committed, current data: no lost updates. The same transaction writes
the audit event that the change stream later replays, and on PostgreSQL queues a NOTIFY that other
replicas receive once it commits. Each write returns what it wrote (:class:`WriteResult`), so callers
never read it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final, Literal, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import Mode, RuleSet
from hatchet_trace_flags_server.core.records import (
    Author,
    ChangeEvent,
    ChangeKind,
    NotFound,
    PreconditionFailed,
    RuleRecord,
    RulesSnapshot,
    SettingsRecord,
    TaskRow,
    WriteResult,
)
from hatchet_trace_flags_server.store.database import NOTIFY_CHANNEL, Database
from hatchet_trace_flags_server.store.schema import (
    audit_events,
    pattern_rules,
    rule_state,
    task_rules,
    utcnow,
)

from .bulk_entries import replace_entries
from .reads import RuleQueries, rule_record, settings_record, task_row

__all__ = ["RuleWrites", "write_settings"]

_R = TypeVar("_R")

_RuleKind = Literal["task", "pattern"]
_TABLES: Final[dict[_RuleKind, tuple[sa.Table, sa.Column[str]]]] = {
    "task": (task_rules, task_rules.c.action_id),
    "pattern": (pattern_rules, pattern_rules.c.pattern),
}


class _Unchanged(Exception):
    """Raised inside a write transaction that would change nothing: it rolls the revision bump back
    and carries the current record out."""

    def __init__(self, record: object) -> None:
        self.record = record


class RuleWrites:
    def __init__(
        self,
        database: Database,
        write_lock: asyncio.Lock | None,
        *,
        known: Callable[[], RulesSnapshot | None] = lambda: None,
    ) -> None:
        self._db = database
        self._write_lock = write_lock
        # The snapshot this process serves (owned by the change feed). A writer whose bump lands
        # right after it can start from it instead of re-reading every rule.
        self._known = known

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.write_transaction(self._write_lock) as connection:
            yield connection

    async def _bump(self, connection: AsyncConnection) -> tuple[int, SettingsRecord]:
        row = (
            (
                await connection.execute(
                    rule_state.update()
                    .where(rule_state.c.id == 1)
                    .values(revision=rule_state.c.revision + 1)
                    .returning(*rule_state.c)
                )
            )
            .mappings()
            .one()
        )
        return row["revision"], settings_record(row)

    async def _rules_before(
        self, connection: AsyncConnection, revision: int, settings: SettingsRecord
    ) -> RuleSet:
        """The rule set as committed just before ``revision`` (which this transaction holds)."""
        known = self._known()
        if known is not None and known.revision == revision - 1:
            return known.rules
        return await RuleQueries.load_rules(connection, settings)

    async def _finish(
        self,
        connection: AsyncConnection,
        author: Author,
        *,
        revision: int,
        rules: RuleSet,
        kind: ChangeKind,
        key: str | None,
        before: object,
        after: object,
        at: datetime,
    ) -> tuple[ChangeEvent, RulesSnapshot]:
        snapshot = RulesSnapshot.of(revision, rules)
        event = ChangeEvent(
            revision, snapshot.etag, kind, key, before, after, author.actor, author.source, at
        )
        await connection.execute(
            audit_events.insert().values(
                revision=revision,
                at=at,
                actor=author.actor,
                source=author.source,
                kind=kind,
                key=key,
                before=before,
                after=after,
                etag=snapshot.etag,
            )
        )
        if self._db.is_postgres:
            # Delivered to every listening replica when (and only if) this transaction commits.
            await connection.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, str(revision))))
        return event, snapshot

    # ----------------------------------------------------------------- one rule

    async def set_task(
        self, action_id: str, mode: Mode | None, author: Author, *, until: datetime | None = None
    ) -> WriteResult[TaskRow]:
        """Set (``mode``) or clear (``None``) a task's own rule, until ``until`` if given (then it
        returns to what it was before). The result carries what workers reported of the task, read
        in the same transaction."""
        return await self._set_rule("task", action_id, mode, author, task_row, until)

    async def set_pattern(
        self, pattern: str, mode: Mode | None, author: Author, *, until: datetime | None = None
    ) -> WriteResult[RuleRecord]:
        """Set (``mode``) or remove (``None``) a pattern, until ``until`` if given."""
        return await self._set_rule("pattern", pattern, mode, author, _as_written, until)

    async def _set_rule(
        self,
        kind: _RuleKind,
        key: str,
        mode: Mode | None,
        author: Author,
        present: Callable[[AsyncConnection, RuleRecord], Awaitable[_R]],
        until: datetime | None,
    ) -> WriteResult[_R]:
        if until is not None and mode is None:
            raise ValueError("a cleared rule cannot be timed")
        table, key_column = _TABLES[kind]
        try:
            async with self._write() as connection:
                revision, settings = await self._bump(connection)
                row = (
                    (await connection.execute(table.select().where(key_column == key)))
                    .mappings()
                    .one_or_none()
                )
                current = rule_record(key, row)
                # "*" asks for a configured rule; a tag is a version, and version 0 (or a cleared
                # rule's version) may be matched on purpose to create only if still unconfigured.
                exists = current.mode is not None
                if_match = author.if_match
                if if_match is not None and not (
                    if_match.strong_match(str(current.version)) and (exists or not if_match.any)
                ):
                    raise PreconditionFailed(current.etag, f"{kind} {key!r}")
                if mode is None and current.mode is None:
                    raise NotFound(f"no mode is configured for {kind} {key!r}")
                if (mode, author.note, until) == (current.mode, current.note, current.until):
                    raise _Unchanged(await present(connection, current))
                # A timed write returns to the state before the timed episode, however often the
                # episode is extended; an untimed write cancels it.
                reverts_to = None
                if until is not None:
                    reverts_to = current.reverts_to if current.until is not None else current.mode
                at = utcnow()
                new = RuleRecord(
                    key, mode, author.note, current.version + 1, at, author.actor, until, reverts_to
                )
                rules = await self._rules_before(connection, revision, settings)
                rules = (
                    rules.with_task(key, mode, expiry=new.expiry)
                    if kind == "task"
                    else rules.with_pattern(key, mode, expiry=new.expiry)
                )
                values = {
                    "mode": mode,
                    "note": author.note,
                    "version": new.version,
                    "updated_at": at,
                    "updated_by": author.actor,
                    "until": until,
                    "reverts_to": reverts_to,
                }
                if row is None:
                    await connection.execute(table.insert().values({key_column.name: key, **values}))
                else:
                    await connection.execute(table.update().where(key_column == key).values(values))
                event, snapshot = await self._finish(
                    connection,
                    author,
                    revision=revision,
                    rules=rules,
                    kind=kind,
                    key=key,
                    before=current.state(),
                    after=new.state(),
                    at=at,
                )
                record = await present(connection, new)
        except _Unchanged as unchanged:
            return WriteResult(cast(_R, unchanged.record), None, None)
        return WriteResult(record, event, snapshot)

    # ----------------------------------------------------------------- settings

    async def update_settings(
        self,
        *,
        default: Mode | None,
        links_enabled: bool | None,
        author: Author,
        links_until: datetime | None = None,
    ) -> WriteResult[SettingsRecord]:
        """Change the default mode and/or the kill switch; ``None`` keeps a value as it is. With
        ``links_until`` the kill switch returns to its earlier state then; setting it without
        cancels a pending return."""
        if links_until is not None and links_enabled is None:
            raise ValueError("links_until needs links_enabled")
        try:
            async with self._write() as connection:
                revision, current = await self._bump(connection)
                if author.if_match is not None and not author.if_match.strong_match(str(current.version)):
                    raise PreconditionFailed(current.etag, "settings")
                new_default = current.default if default is None else default
                new_links = current.links_enabled if links_enabled is None else links_enabled
                expiry = (current.links_until, current.links_reverts_to, current.links_until_by)
                if links_enabled is not None:
                    expiry = (None, None, None)
                    if links_until is not None:
                        timed = current.links_until is not None
                        reverts_to = current.links_reverts_to if timed else current.links_enabled
                        expiry = (links_until, reverts_to, author.actor)
                if (new_default, new_links, author.note, expiry[0]) == (
                    current.default,
                    current.links_enabled,
                    current.note,
                    current.links_until,
                ):
                    raise _Unchanged(current)
                at = utcnow()
                new = SettingsRecord(
                    new_default, new_links, author.note, current.version + 1, at, author.actor, *expiry
                )
                rules = await self._rules_before(connection, revision, current)
                rules = rules.with_settings(
                    default=new_default, links_enabled=new_links, links_expiry=new.links_expiry
                )
                await write_settings(connection, new)
                event, snapshot = await self._finish(
                    connection,
                    author,
                    revision=revision,
                    rules=rules,
                    kind="settings",
                    key=None,
                    before=current.state(),
                    after=new.state(),
                    at=at,
                )
        except _Unchanged as unchanged:
            return WriteResult(cast(SettingsRecord, unchanged.record), None, None)
        return WriteResult(new, event, snapshot)

    # ----------------------------------------------------------------- the whole set

    async def import_rules(self, rules: RuleSet, author: Author) -> WriteResult[RulesSnapshot]:
        """Replace the whole rule set in one transaction (all or nothing). ``If-Match`` is the
        snapshot's ETag."""
        try:
            async with self._write() as connection:
                revision, settings = await self._bump(connection)
                before = await RuleQueries.load_rules(connection, settings)
                before_snapshot = RulesSnapshot.of(revision - 1, before)
                if author.if_match is not None and not author.if_match.strong_match(
                    before_snapshot.opaque_etag
                ):
                    raise PreconditionFailed(before_snapshot.etag, "the rule set")
                if rules.dumps() == before.dumps():
                    raise _Unchanged(before_snapshot)
                at = utcnow()
                # The imported set is the whole truth: no setting of the old one reverts later.
                await _cancel_expiries(connection)
                postgres = self._db.is_postgres
                for table, key_column in _TABLES.values():
                    old, new_entries = (
                        (before.tasks, rules.tasks)
                        if table is task_rules
                        else (before.patterns, rules.patterns)
                    )
                    await replace_entries(
                        connection, table, key_column, old, new_entries, author, at, postgres=postgres
                    )
                if (rules.default, rules.links_enabled, None) != (
                    settings.default,
                    settings.links_enabled,
                    settings.links_until,
                ):
                    await write_settings(
                        connection,
                        SettingsRecord(
                            rules.default,
                            rules.links_enabled,
                            author.note,
                            settings.version + 1,
                            at,
                            author.actor,
                        ),
                    )
                event, snapshot = await self._finish(
                    connection,
                    author,
                    revision=revision,
                    rules=rules,
                    kind="import",
                    key=None,
                    before=before.to_document(),
                    after=rules.to_document(),
                    at=at,
                )
        except _Unchanged as unchanged:
            return WriteResult(cast(RulesSnapshot, unchanged.record), None, None)
        return WriteResult(snapshot, event, snapshot)


async def write_settings(connection: AsyncConnection, settings: SettingsRecord) -> None:
    await connection.execute(
        rule_state.update()
        .where(rule_state.c.id == 1)
        .values(
            default_mode=settings.default,
            links_enabled=settings.links_enabled,
            settings_note=settings.note,
            settings_version=settings.version,
            settings_updated_at=settings.updated_at,
            settings_updated_by=settings.updated_by,
            links_until=settings.links_until,
            links_reverts_to=settings.links_reverts_to,
            links_until_by=settings.links_until_by,
        )
    )


async def _cancel_expiries(connection: AsyncConnection) -> None:
    for table in (task_rules, pattern_rules):
        await connection.execute(
            table.update().where(table.c.until.is_not(None)).values(until=None, reverts_to=None)
        )


async def _as_written(_connection: AsyncConnection, record: RuleRecord) -> RuleRecord:
    return record

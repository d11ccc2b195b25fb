"""Persistence of rules, settings, seen tasks and the audit log.

Every change is one transaction that first bumps the rule-set revision in the single
``rule_state`` row. That row lock (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite) serialises writers,
so the version checks behind ``If-Match`` read committed, current data: no lost updates. The same
transaction writes the audit event that the change stream later replays, and on PostgreSQL queues
a NOTIFY that other replicas receive once it commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final, Literal, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags._rules import Mode, RuleSet, validate_action_id, validate_pattern

from ._conditions import EntityTags
from ._db import Database
from ._insight_store import InsightStore
from ._records import (
    AuditQuery,
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
from ._schema import audit_events, pattern_rules, rule_state, seen_tasks, task_rules, utcnow
from ._seen_store import SeenStore
from ._task_fetch import StatementCache, fetch_tasks
from ._task_queries import TaskList, TaskListQuery

__all__ = [
    "NOTIFY_CHANNEL",
    "AuditQuery",
    "ChangeEvent",
    "NotFound",
    "PreconditionFailed",
    "RuleRecord",
    "RulesSnapshot",
    "SettingsRecord",
    "Store",
    "TaskRow",
    "WriteResult",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

NOTIFY_CHANNEL: Final = "hatchet_trace_flags_changes"


class _Unchanged(Exception):
    def __init__(self, record: object) -> None:
        self.record = record


def _rule_record(key: str, row: RowMapping | None) -> RuleRecord:
    if row is None:
        return RuleRecord(key, None, None, 0, None, None)
    return RuleRecord(key, row["mode"], row["note"], row["version"], row["updated_at"], row["updated_by"])


def _settings_record(row: RowMapping) -> SettingsRecord:
    return SettingsRecord(
        default=row["default_mode"],
        links_enabled=bool(row["links_enabled"]),
        note=row["settings_note"],
        version=row["settings_version"],
        updated_at=row["settings_updated_at"],
        updated_by=row["settings_updated_by"],
    )


def _event_from_row(row: RowMapping) -> ChangeEvent:
    return ChangeEvent(
        revision=row["revision"],
        etag=row["etag"],
        kind=row["kind"],
        key=row["key"],
        before=row["before"],
        after=row["after"],
        actor=row["actor"],
        source=row["source"],
        at=row["at"],
    )


class Store:
    """Database access for the service. Methods validate their input and raise
    :class:`~hatchet_trace_flags.RulesError`, :class:`NotFound` or :class:`PreconditionFailed`."""

    def __init__(
        self, database: Database, *, known: Callable[[], RulesSnapshot | None] = lambda: None
    ) -> None:
        self._db = database
        # SQLite has one writer at a time anyway: queueing here keeps waiting writers off the
        # busy-timeout loop in the driver's thread.
        self._write_lock = asyncio.Lock() if not database.is_postgres else None
        self.seen = SeenStore(database, self._write_lock)
        self.insights = InsightStore(database, self._write_lock)
        self._statements = StatementCache()
        # The snapshot this process serves, owned by the change feed. A writer whose bump lands
        # right after it can start from it instead of re-reading every rule.
        self._known = known

    # ----------------------------------------------------------------- transactions

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.write_transaction(self._write_lock) as connection:
            yield connection

    @asynccontextmanager
    async def _read(self, *, consistent: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self._db.connect() as connection:
            if consistent and self._db.is_postgres:
                await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
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
        return row["revision"], _settings_record(row)

    async def _rules_before(
        self, connection: AsyncConnection, revision: int, settings: SettingsRecord
    ) -> RuleSet:
        """The rule set as committed just before ``revision`` (which this transaction holds)."""
        known = self._known()
        if known is not None and known.revision == revision - 1:
            return known.rules
        return await self._load_rules(connection, settings)

    async def _load_rules(self, connection: AsyncConnection, settings: SettingsRecord) -> RuleSet:
        tasks = await connection.execute(
            sa.select(task_rules.c.action_id, task_rules.c.mode).where(task_rules.c.mode.is_not(None))
        )
        patterns = await connection.execute(
            sa.select(pattern_rules.c.pattern, pattern_rules.c.mode).where(pattern_rules.c.mode.is_not(None))
        )
        return RuleSet(
            default=settings.default,
            links_enabled=settings.links_enabled,
            tasks=dict(tasks.all()),
            patterns=dict(patterns.all()),
        )

    async def _finish(
        self,
        connection: AsyncConnection,
        *,
        revision: int,
        rules: RuleSet,
        kind: ChangeKind,
        key: str | None,
        before: object,
        after: object,
        actor: str,
        source: str,
        at: datetime,
    ) -> tuple[ChangeEvent, RulesSnapshot]:
        snapshot = RulesSnapshot.of(revision, rules)
        event = ChangeEvent(revision, snapshot.etag, kind, key, before, after, actor, source, at)
        await connection.execute(
            audit_events.insert().values(
                revision=revision,
                at=at,
                actor=actor,
                source=source,
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

    # ----------------------------------------------------------------- reads

    async def load_snapshot(self) -> RulesSnapshot:
        async with self._read(consistent=True) as connection:
            row = (await connection.execute(sa.select(rule_state))).mappings().one()
            rules = await self._load_rules(connection, _settings_record(row))
        return RulesSnapshot.of(row["revision"], rules)

    async def current_revision(self) -> int:
        async with self._read() as connection:
            revision: int = (await connection.execute(sa.select(rule_state.c.revision))).scalar_one()
        return revision

    async def events_after(self, revision: int, *, limit: int) -> list[ChangeEvent]:
        """Audit events with a revision above ``revision``, oldest first."""
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(audit_events)
                .where(audit_events.c.revision > revision)
                .order_by(audit_events.c.revision)
                .limit(limit)
            )
            return [_event_from_row(row) for row in rows.mappings()]

    async def get_settings(self) -> SettingsRecord:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(rule_state))).mappings().one()
        return _settings_record(row)

    async def get_task(self, action_id: str) -> TaskRow:
        validate_action_id(action_id)
        async with self._read() as connection:
            rule = (
                (await connection.execute(task_rules.select().where(task_rules.c.action_id == action_id)))
                .mappings()
                .one_or_none()
            )
            seen = (
                (await connection.execute(seen_tasks.select().where(seen_tasks.c.action_id == action_id)))
                .mappings()
                .one_or_none()
            )
        if rule is None and seen is None:
            raise NotFound(f"task {action_id!r} is neither configured nor seen")
        return TaskRow(
            rule=_rule_record(action_id, rule),
            first_seen=seen["first_seen"] if seen else None,
            last_seen=seen["last_seen"] if seen else None,
            last_worker=seen["last_worker"] if seen else None,
        )

    async def list_tasks(self, query: TaskListQuery, rules: RuleSet) -> TaskList:
        """A page of configured and discovered tasks; ``rules`` gives each its effective mode."""
        async with self._read(consistent=True) as connection:
            postgres = self._db.is_postgres
            return await fetch_tasks(connection, self._statements, query, rules, postgres=postgres)

    async def get_pattern(self, pattern: str) -> RuleRecord:
        validate_pattern(pattern)
        async with self._read() as connection:
            row = (
                (await connection.execute(pattern_rules.select().where(pattern_rules.c.pattern == pattern)))
                .mappings()
                .one_or_none()
            )
        return _rule_record(pattern, row)

    async def list_patterns(
        self, *, search: str | None, mode: Mode | None, limit: int, offset: int
    ) -> tuple[list[RuleRecord], int]:
        condition: sa.ColumnElement[bool] = pattern_rules.c.mode.is_not(None)
        if search:
            condition &= sa.func.lower(pattern_rules.c.pattern).contains(search.lower(), autoescape=True)
        if mode is not None:
            condition &= pattern_rules.c.mode == mode
        async with self._read() as connection:
            total: int = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(pattern_rules).where(condition)
                )
            ).scalar_one()
            rows = await connection.execute(
                pattern_rules.select()
                .where(condition)
                .order_by(pattern_rules.c.pattern)
                .limit(limit)
                .offset(offset)
            )
            records = [_rule_record(row["pattern"], row) for row in rows.mappings()]
        return records, total

    async def list_audit(self, query: AuditQuery) -> list[ChangeEvent]:
        """Newest first."""
        condition: sa.ColumnElement[bool] = sa.true()
        if query.actor is not None:
            condition &= audit_events.c.actor == query.actor
        if query.kind is not None:
            condition &= audit_events.c.kind == query.kind
        if query.key is not None:
            condition &= audit_events.c.key == query.key
        if query.since is not None:
            condition &= audit_events.c.at >= query.since
        if query.until is not None:
            condition &= audit_events.c.at < query.until
        if query.before_revision is not None:
            condition &= audit_events.c.revision < query.before_revision
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(audit_events)
                .where(condition)
                .order_by(audit_events.c.revision.desc())
                .limit(query.limit)
            )
            return [_event_from_row(row) for row in rows.mappings()]

    # ----------------------------------------------------------------- writes

    async def set_task(
        self,
        action_id: str,
        mode: Mode | None,
        *,
        note: str | None,
        if_match: EntityTags | None,
        actor: str,
        source: str,
    ) -> WriteResult[RuleRecord]:
        """Set (``mode``) or clear (``None``) the exact rule for ``action_id``."""
        validate_action_id(action_id)
        return await self._set_rule(
            "task",
            task_rules,
            task_rules.c.action_id,
            action_id,
            mode,
            note=note,
            if_match=if_match,
            actor=actor,
            source=source,
        )

    async def set_pattern(
        self,
        pattern: str,
        mode: Mode | None,
        *,
        note: str | None,
        if_match: EntityTags | None,
        actor: str,
        source: str,
    ) -> WriteResult[RuleRecord]:
        validate_pattern(pattern)
        return await self._set_rule(
            "pattern",
            pattern_rules,
            pattern_rules.c.pattern,
            pattern,
            mode,
            note=note,
            if_match=if_match,
            actor=actor,
            source=source,
        )

    async def _set_rule(
        self,
        kind: Literal["task", "pattern"],
        table: sa.Table,
        key_column: sa.Column[str],
        key: str,
        mode: Mode | None,
        *,
        note: str | None,
        if_match: EntityTags | None,
        actor: str,
        source: str,
    ) -> WriteResult[RuleRecord]:
        try:
            async with self._write() as connection:
                revision, settings = await self._bump(connection)
                row = (
                    (await connection.execute(table.select().where(key_column == key)))
                    .mappings()
                    .one_or_none()
                )
                current = _rule_record(key, row)
                # "*" asks for a configured rule; a tag is a version, and version 0 (or a cleared
                # rule's version) may be matched on purpose to create only if still unconfigured.
                exists = current.mode is not None
                if if_match is not None and not (
                    if_match.strong_match(str(current.version)) and (exists or not if_match.any)
                ):
                    raise PreconditionFailed(current.etag, f"{kind} {key!r}")
                if mode is None and current.mode is None:
                    raise NotFound(f"no mode is configured for {kind} {key!r}")
                if mode == current.mode and note == current.note:
                    raise _Unchanged(current)
                rules = await self._rules_before(connection, revision, settings)
                rules = rules.with_task(key, mode) if kind == "task" else rules.with_pattern(key, mode)
                at = utcnow()
                new = RuleRecord(key, mode, note, current.version + 1, at, actor)
                values = {
                    "mode": mode,
                    "note": note,
                    "version": new.version,
                    "updated_at": at,
                    "updated_by": actor,
                }
                if row is None:
                    await connection.execute(table.insert().values({key_column.name: key, **values}))
                else:
                    await connection.execute(table.update().where(key_column == key).values(values))
                event, snapshot = await self._finish(
                    connection,
                    revision=revision,
                    rules=rules,
                    kind=kind,
                    key=key,
                    before=current.state(),
                    after=new.state(),
                    actor=actor,
                    source=source,
                    at=at,
                )
        except _Unchanged as unchanged:
            return WriteResult(cast(RuleRecord, unchanged.record), None, None)
        return WriteResult(new, event, snapshot)

    async def update_settings(
        self,
        *,
        default: Mode | None,
        links_enabled: bool | None,
        note: str | None,
        if_match: EntityTags | None,
        actor: str,
        source: str,
    ) -> WriteResult[SettingsRecord]:
        """Change the default mode and/or the kill switch; ``None`` keeps a value as it is."""
        try:
            async with self._write() as connection:
                revision, current = await self._bump(connection)
                if if_match is not None and not if_match.strong_match(str(current.version)):
                    raise PreconditionFailed(current.etag, "settings")
                new_default = current.default if default is None else default
                new_links = current.links_enabled if links_enabled is None else links_enabled
                if (new_default, new_links, note) == (current.default, current.links_enabled, current.note):
                    raise _Unchanged(current)
                rules = await self._rules_before(connection, revision, current)
                rules = rules.with_settings(default=new_default, links_enabled=new_links)
                at = utcnow()
                new = SettingsRecord(new_default, new_links, note, current.version + 1, at, actor)
                await self._write_settings(connection, new)
                event, snapshot = await self._finish(
                    connection,
                    revision=revision,
                    rules=rules,
                    kind="settings",
                    key=None,
                    before=current.state(),
                    after=new.state(),
                    actor=actor,
                    source=source,
                    at=at,
                )
        except _Unchanged as unchanged:
            return WriteResult(cast(SettingsRecord, unchanged.record), None, None)
        return WriteResult(new, event, snapshot)

    async def import_rules(
        self,
        rules: RuleSet,
        *,
        note: str | None,
        if_match: EntityTags | None,
        actor: str,
        source: str,
    ) -> WriteResult[RulesSnapshot]:
        """Replace the whole rule set in one transaction (all or nothing)."""
        try:
            async with self._write() as connection:
                revision, settings = await self._bump(connection)
                before = await self._load_rules(connection, settings)
                before_snapshot = RulesSnapshot.of(revision - 1, before)
                if if_match is not None and not if_match.strong_match(before_snapshot.opaque_etag):
                    raise PreconditionFailed(before_snapshot.etag, "the rule set")
                if rules.dumps() == before.dumps():
                    raise _Unchanged(before_snapshot)
                at = utcnow()
                await self._replace_entries(
                    connection,
                    task_rules,
                    task_rules.c.action_id,
                    before.tasks,
                    rules.tasks,
                    note=note,
                    actor=actor,
                    at=at,
                )
                await self._replace_entries(
                    connection,
                    pattern_rules,
                    pattern_rules.c.pattern,
                    before.patterns,
                    rules.patterns,
                    note=note,
                    actor=actor,
                    at=at,
                )
                if (rules.default, rules.links_enabled) != (settings.default, settings.links_enabled):
                    await self._write_settings(
                        connection,
                        SettingsRecord(
                            rules.default, rules.links_enabled, note, settings.version + 1, at, actor
                        ),
                    )
                event, snapshot = await self._finish(
                    connection,
                    revision=revision,
                    rules=rules,
                    kind="import",
                    key=None,
                    before=before.to_document(),
                    after=rules.to_document(),
                    actor=actor,
                    source=source,
                    at=at,
                )
        except _Unchanged as unchanged:
            return WriteResult(cast(RulesSnapshot, unchanged.record), None, None)
        return WriteResult(snapshot, event, snapshot)

    @staticmethod
    async def _write_settings(connection: AsyncConnection, settings: SettingsRecord) -> None:
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
            )
        )

    async def _replace_entries(
        self,
        connection: AsyncConnection,
        table: sa.Table,
        key_column: sa.Column[str],
        before: Mapping[str, Mode],
        after: Mapping[str, Mode],
        *,
        note: str | None,
        actor: str,
        at: datetime,
    ) -> None:
        changed = [key for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
        if not changed:
            return
        versions: dict[str, int] = {}
        for chunk in _chunks(sorted(changed), 500):
            rows = await connection.execute(
                sa.select(key_column, table.c.version).where(key_column.in_(chunk))
            )
            versions.update(dict(rows.all()))
        values = [
            {
                key_column.name: key,
                "mode": after.get(key),
                "note": note,
                "version": versions.get(key, 0) + 1,
                "updated_at": at,
                "updated_by": actor,
            }
            for key in changed
        ]
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(table)
        statement = insert.on_conflict_do_update(
            index_elements=[key_column.name],
            set_={
                name: insert.excluded[name]
                for name in ("mode", "note", "version", "updated_at", "updated_by")
            },
        )
        for batch in _chunks(values, 500):
            await connection.execute(statement, batch)


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

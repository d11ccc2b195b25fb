"""Reads of the rule set and what surrounds it: the snapshot and its revision, settings, tasks,
patterns and the audit log. Nothing here writes; :mod:`.writes` holds the transactions that do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import Expiries, Expiry, Mode, RuleSet
from hatchet_trace_flags_server.core.names.folding import fold
from hatchet_trace_flags_server.core.records import (
    AuditQuery,
    ChangeEvent,
    NotFound,
    RuleRecord,
    RulesSnapshot,
    SettingsRecord,
    TaskList,
    TaskListQuery,
    TaskRow,
)
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.schema import (
    audit_events,
    pattern_rules,
    rule_state,
    seen_tasks,
    task_rules,
)
from hatchet_trace_flags_server.store.task_list.pattern_matches import PatternMatches, count_pattern_matches
from hatchet_trace_flags_server.store.task_list.reader import StatementCache, fetch_tasks, rule_record

__all__ = ["RuleQueries", "rule_record", "settings_record", "task_row"]


def settings_record(row: RowMapping) -> SettingsRecord:
    return SettingsRecord(
        default=row["default_mode"],
        links_enabled=bool(row["links_enabled"]),
        note=row["settings_note"],
        version=row["settings_version"],
        updated_at=row["settings_updated_at"],
        updated_by=row["settings_updated_by"],
        links_until=row["links_until"],
        links_reverts_to=row["links_reverts_to"],
        links_until_by=row["links_until_by"],
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


async def task_row(connection: AsyncConnection, rule: RuleRecord) -> TaskRow:
    """``rule`` with what workers reported of its task, read on ``connection``."""
    seen = (
        (await connection.execute(seen_tasks.select().where(seen_tasks.c.action_id == rule.key)))
        .mappings()
        .one_or_none()
    )
    return TaskRow(
        rule=rule,
        first_seen=seen["first_seen"] if seen else None,
        last_seen=seen["last_seen"] if seen else None,
        last_worker=seen["last_worker"] if seen else None,
    )


class RuleQueries:
    """Read-only access. Callers validate keys first (the service layer does)."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._statements = StatementCache()

    @asynccontextmanager
    async def _read(self, *, consistent: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self._db.connect() as connection:
            if consistent and self._db.is_postgres:
                await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                yield connection

    @staticmethod
    async def load_rules(connection: AsyncConnection, settings: SettingsRecord) -> RuleSet:
        """The rule set as ``connection`` sees it (also used inside write transactions)."""
        tables = {
            "tasks": (task_rules, task_rules.c.action_id),
            "patterns": (pattern_rules, pattern_rules.c.pattern),
        }
        modes: dict[str, dict[str, Mode]] = {}
        timed: dict[str, dict[str, Expiry]] = {}
        for name, (table, key) in tables.items():
            columns = (key, table.c.mode, table.c.until, table.c.reverts_to)
            rows = await connection.execute(sa.select(*columns).where(table.c.mode.is_not(None)))
            modes[name], timed[name] = {}, {}
            for action_or_pattern, mode, until, reverts_to in rows.all():
                modes[name][action_or_pattern] = mode
                if until is not None:
                    timed[name][action_or_pattern] = Expiry(until, reverts_to)
        return RuleSet(
            default=settings.default,
            links_enabled=settings.links_enabled,
            tasks=modes["tasks"],
            patterns=modes["patterns"],
            expiries=Expiries(timed["tasks"], timed["patterns"], settings.links_expiry),
        )

    async def load_snapshot(self) -> RulesSnapshot:
        async with self._read(consistent=True) as connection:
            row = (await connection.execute(sa.select(rule_state))).mappings().one()
            rules = await self.load_rules(connection, settings_record(row))
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
        return settings_record(row)

    async def get_task(self, action_id: str) -> TaskRow:
        async with self._read() as connection:
            rule = (
                (await connection.execute(task_rules.select().where(task_rules.c.action_id == action_id)))
                .mappings()
                .one_or_none()
            )
            row = await task_row(connection, rule_record(action_id, rule))
        if rule is None and row.first_seen is None:
            raise NotFound(f"task {action_id!r} is neither configured nor seen")
        return row

    async def list_tasks(self, query: TaskListQuery, rules: RuleSet) -> TaskList:
        """A page of configured and discovered tasks; ``rules`` gives each its effective mode."""
        async with self._read(consistent=True) as connection:
            postgres = self._db.is_postgres
            return await fetch_tasks(connection, self._statements, query, rules, postgres=postgres)

    async def known_tasks(self, action_ids: set[str]) -> set[str]:
        """Which of ``action_ids`` are tasks (configured or discovered): primary-key lookups."""
        names = sorted(action_ids)
        seen = sa.select(seen_tasks.c.action_id).where(seen_tasks.c.action_id.in_(names))
        configured = sa.select(task_rules.c.action_id).where(
            task_rules.c.action_id.in_(names), task_rules.c.mode.is_not(None)
        )
        async with self._read() as connection:
            return set((await connection.execute(sa.union(seen, configured))).scalars())

    async def pattern_matches(self, pattern: str, *, limit: int) -> PatternMatches:
        """How many known tasks ``pattern`` names (counted up to ``limit``)."""
        async with self._read() as connection:
            return await count_pattern_matches(connection, pattern, limit, postgres=self._db.is_postgres)

    async def get_pattern(self, pattern: str) -> RuleRecord:
        async with self._read() as connection:
            row = (
                (await connection.execute(pattern_rules.select().where(pattern_rules.c.pattern == pattern)))
                .mappings()
                .one_or_none()
            )
        return rule_record(pattern, row)

    async def list_patterns(
        self, *, search: str | None, mode: Mode | None, limit: int, offset: int
    ) -> tuple[list[RuleRecord], int]:
        condition: sa.ColumnElement[bool] = pattern_rules.c.mode.is_not(None)
        if search:
            # The task search's folding (core/folding.py), through the stored folded pattern.
            searched = sa.func.coalesce(pattern_rules.c.pattern_folded, pattern_rules.c.pattern)
            condition &= searched.contains(fold(search), autoescape=True)
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
            records = [rule_record(row["pattern"], row) for row in rows.mappings()]
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

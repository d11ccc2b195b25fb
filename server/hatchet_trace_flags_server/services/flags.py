"""The service layer of the flags: routes (JSON API, dashboard, OFREP) read and change rules,
settings and discovered tasks through :class:`FlagService`, never through the store.

A change goes through four steps here, in one place: **validate** (action_ids, patterns; the store
trusts its input), **write** (one transaction in the store's ``rules/writes.py``, which returns what it
wrote), **publish** (the change feed serves the new snapshot and tells every stream), **count**
(metrics).
Reports of discovered tasks are charged to the reporting token's rate limit and capped in number.
Routes turn HTTP into calls and results into bodies; nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

from hatchet_trace_flags.contract import (
    Mode,
    RulesError,
    RuleSet,
    format_until,
    parse_until,
    validate_action_id,
    validate_pattern,
)
from hatchet_trace_flags_server.core.metrics import Metrics
from hatchet_trace_flags_server.core.names.lookalike import ascii_twin
from hatchet_trace_flags_server.core.ratelimit import RateLimiter
from hatchet_trace_flags_server.core.records import (
    COUNT_LIMIT,
    AuditQuery,
    Author,
    ChangeEvent,
    RuleRecord,
    RulesSnapshot,
    SeenResult,
    SettingsRecord,
    TaskList,
    TaskListQuery,
    TaskRow,
    WriteResult,
)
from hatchet_trace_flags_server.store.schema import utcnow
from hatchet_trace_flags_server.store.store import Store
from hatchet_trace_flags_server.store.task_list.pattern_matches import PatternMatches

from .feed import ChangeFeed
from .insights import InsightService
from .mode_keeper import ModeKeeper
from .served_rules import served_snapshot

__all__ = ["FlagService"]

logger = logging.getLogger("hatchet_trace_flags_server")

_R = TypeVar("_R")
# When a timed setting ends: RFC 3339 text with an offset (from the API) or an aware datetime.
Until: TypeAlias = str | datetime | None


class FlagService:
    def __init__(
        self,
        store: Store,
        feed: ChangeFeed,
        metrics: Metrics,
        *,
        insights: InsightService,
        report_limiter: RateLimiter,
        max_discovered_tasks: int,
        max_discovered_characters: int | None = None,
        max_until_seconds: float = 30 * 86_400.0,
        modes: ModeKeeper | None = None,
    ) -> None:
        self._store = store
        self._insights = insights
        self._feed = feed
        self._metrics = metrics
        self._report_limiter = report_limiter
        self._max_discovered = max_discovered_tasks
        self._max_discovered_characters = max_discovered_characters
        self._max_until_seconds = max_until_seconds
        self._modes = modes

    # ----------------------------------------------------------------- what is served

    @property
    def snapshot(self) -> RulesSnapshot:
        """The rule set this process serves (owned by the change feed)."""
        return self._feed.snapshot

    def served(self, *, with_expiries: bool) -> RulesSnapshot:
        """The snapshot as served now (services/served_rules.py): expired settings reverted; without
        ``with_expiries`` the version-1 document of the values in force, with its own ETag."""
        return served_snapshot(self._feed.snapshot, with_expiries=with_expiries, now=utcnow())

    @property
    def rules(self) -> RuleSet:
        """The rules in force now: timed settings past their ``until`` already reverted, even in the
        moment before the revert is written."""
        return self._feed.snapshot.rules.at(utcnow())

    # ----------------------------------------------------------------- reads

    async def task(self, action_id: str) -> TaskRow:
        """A configured or discovered task; :class:`~hatchet_trace_flags_server.core.records.NotFound`
        if it is neither."""
        validate_action_id(action_id)
        return await self._store.queries.get_task(action_id)

    async def list_tasks(self, query: TaskListQuery, rules: RuleSet) -> TaskList:
        """A page of tasks, their effective modes computed from ``rules`` (pass :attr:`rules`, read
        once, and present the page with the same rule set). A row whose name renders like another
        known task's, letter for letter, says which (``imitates``): one lookup by name for the page."""
        found = await self._store.queries.list_tasks(query, rules)
        twins = {
            row.rule.key: twin
            for row in found.rows
            if (twin := ascii_twin(row.rule.key)) is not None and twin != row.rule.key
        }
        if not twins:
            return found
        known = await self._store.queries.known_tasks(set(twins.values()))
        rows = [
            replace(row, imitates=twins[row.rule.key]) if twins.get(row.rule.key) in known else row
            for row in found.rows
        ]
        return replace(found, rows=rows)

    async def pattern(self, pattern: str) -> RuleRecord:
        """A pattern's rule (``mode`` ``None`` when not configured)."""
        validate_pattern(pattern)
        return await self._store.queries.get_pattern(pattern)

    async def pattern_matches(self, pattern: str) -> PatternMatches:
        """How many known tasks ``pattern`` would name (the dashboard's preview), counted up to the
        task list's count limit."""
        validate_pattern(pattern)
        return await self._store.queries.pattern_matches(pattern, limit=COUNT_LIMIT)

    async def list_patterns(
        self, *, search: str | None = None, mode: Mode | None = None, limit: int, offset: int = 0
    ) -> tuple[list[RuleRecord], int]:
        return await self._store.queries.list_patterns(search=search, mode=mode, limit=limit, offset=offset)

    async def settings(self) -> SettingsRecord:
        return await self._store.queries.get_settings()

    async def audit(self, query: AuditQuery) -> list[ChangeEvent]:
        """Audit events, newest first."""
        return await self._store.queries.list_audit(query)

    async def events_after(self, revision: int, *, limit: int) -> list[ChangeEvent]:
        """Changes after ``revision``, oldest first (a stream resuming from Last-Event-ID)."""
        return await self._store.queries.events_after(revision, limit=limit)

    # ----------------------------------------------------------------- changes

    async def set_task(
        self, action_id: str, mode: Mode | None, author: Author, *, until: Until = None
    ) -> WriteResult[TaskRow]:
        """Set (``mode``) or clear (``None``) a task's own mode; with ``until`` (RFC 3339 text or an
        aware datetime) it returns to its earlier state then. A write without it cancels a pending
        return."""
        validate_action_id(action_id)
        moment = self._checked_until(until, clearing=mode is None)
        return await self._published(await self._store.writes.set_task(action_id, mode, author, until=moment))

    async def set_pattern(
        self, pattern: str, mode: Mode | None, author: Author, *, until: Until = None
    ) -> WriteResult[RuleRecord]:
        """Set (``mode``) or remove (``None``) a pattern; ``until`` as in :meth:`set_task`."""
        validate_pattern(pattern)
        moment = self._checked_until(until, clearing=mode is None)
        result = await self._store.writes.set_pattern(pattern, mode, author, until=moment)
        return await self._published(result)

    async def update_settings(
        self,
        author: Author,
        *,
        default: Mode | None = None,
        links_enabled: bool | None = None,
        until: Until = None,
    ) -> WriteResult[SettingsRecord]:
        """Change the default mode and/or the links kill switch (``None`` keeps a value). ``until``
        times the kill switch (it needs ``links_enabled``); the default is never timed."""
        if until is not None and links_enabled is None:
            raise RulesError("until", "times the kill switch: give links_enabled with it")
        moment = self._checked_until(until, clearing=False)
        result = await self._store.writes.update_settings(
            default=default, links_enabled=links_enabled, author=author, links_until=moment
        )
        return await self._published(result)

    def _checked_until(self, until: Until, *, clearing: bool) -> datetime | None:
        """``until`` as an aware UTC datetime, refused (:class:`RulesError`, a 422) when it is not
        RFC 3339 with an offset, not in the future, or further ahead than the configured maximum."""
        if until is None:
            return None
        if clearing:
            raise RulesError("until", "a cleared setting cannot be timed; set a mode with until instead")
        if isinstance(until, datetime):
            if until.tzinfo is None:
                raise RulesError("until", "needs an offset (a naive time is ambiguous)")
            moment = until.astimezone(UTC)
        else:
            moment = parse_until(until)
        now = utcnow()
        if moment <= now:
            raise RulesError(
                "until", f"{format_until(moment)} is not in the future (now {format_until(now)})"
            )
        if (moment - now).total_seconds() > self._max_until_seconds:
            days = self._max_until_seconds / 86_400
            raise RulesError("until", f"is more than {days:g} days ahead (the configured maximum)")
        return moment

    async def import_rules(self, rules: RuleSet, author: Author) -> WriteResult[RulesSnapshot]:
        """Replace the whole rule set (validated by :class:`RuleSet` itself; all or nothing)."""
        return await self._published(await self._store.writes.import_rules(rules, author))

    async def revert_due(self, now: datetime) -> WriteResult[RuleRecord | SettingsRecord] | None:
        """Write the revert of the earliest time-boxed setting ended by ``now`` (services/expiry.py);
        ``None`` when nothing is due."""
        result = await self._store.writes.revert_due(now)
        return None if result is None else await self._published(result)

    async def _published(self, result: WriteResult[_R]) -> WriteResult[_R]:
        if result.event is not None and result.snapshot is not None:
            self._metrics.changes.labels(result.event.kind).inc()
            await self._feed.apply_local(result.event, result.snapshot)
            await self._modes_settled(result.snapshot.revision)
        return result

    async def _modes_settled(self, revision: int) -> None:
        """A change answers once lists show it: after the discovered tasks it decides anew are stored
        with their new modes (bounded; a kill switch over a million tasks finishes in the background)."""
        if self._modes is not None and not await self._modes.settled(revision):
            logger.info("discovered tasks' modes for revision %d are still being stored", revision)

    # ----------------------------------------------------------------- discovered tasks

    async def report_seen(self, reporter: str, worker: str, action_ids: Sequence[str]) -> SeenResult:
        """A worker's report of the tasks it runs, charged to ``reporter`` (its token's name)."""
        # Charged per action_id, not per request (a full report costs what a thousand small ones do),
        # and before the ids are validated, so a refused report costs little.
        self._report_limiter.take(reporter, max(1, len(action_ids)))
        checked = [
            validate_action_id(action_id, field=f"action_ids[{index}]")
            for index, action_id in enumerate(action_ids)
        ]
        result = await self._store.seen.record(
            worker, checked, cap=self._max_discovered, character_cap=self._max_discovered_characters
        )
        if result.ignored:
            self._metrics.seen_ignored.inc(result.ignored)
        return result

    async def forget(self, action_ids: Sequence[str], actor: str) -> int:
        """Forget discovered tasks and their fan-out numbers (their own modes, if any, stay);
        returns how many were discovered."""
        checked = [
            validate_action_id(action_id, field=f"action_ids[{index}]")
            for index, action_id in enumerate(action_ids)
        ]
        forgotten = await self._store.seen.forget(checked)
        await self._insights.forget(checked)
        logger.info("%s forgot %d discovered tasks", actor, forgotten)
        return forgotten

"""How many known tasks a pattern names: the dashboard's preview while someone types one.

Fast at a million discovered tasks: the discovered ones are one range of an index of ``seen_tasks``
(the same ranges the mode filter reads, :func:`~.mode_sql.seen_task_matches`), counted only up to a
limit; the configured ones are at most the rule-set limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags_server.store.schema import seen_tasks, task_rules

from .mode_sql import name_matches, seen_task_matches

__all__ = ["PatternMatches", "count_pattern_matches", "pattern_match_statements"]


@dataclass(frozen=True, slots=True)
class PatternMatches:
    tasks: int  # known tasks (discovered, or configured and not reported yet) the pattern names
    exact: bool  # False: more than ``tasks``, which is the limit
    own_setting: int  # of them, tasks with a mode of their own: that mode wins over any pattern


def pattern_match_statements(
    pattern: str, limit: int, *, postgres: bool
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """Two counts: discovered tasks the pattern names (up to ``limit + 1``), and configured tasks it
    names, with how many of those no worker reported (they are not among the discovered ones)."""
    named = (
        sa.select(sa.literal(1))
        .select_from(seen_tasks)
        .where(seen_task_matches(pattern, postgres=postgres))
        .limit(limit + 1)
        .subquery("named")
    )
    discovered = sa.select(sa.func.count()).select_from(named)
    unseen = ~sa.exists().where(seen_tasks.c.action_id == task_rules.c.action_id)
    configured = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((unseen, 1), else_=0)), 0)
    ).where(task_rules.c.mode.is_not(None), name_matches(task_rules.c.action_id, pattern, postgres=postgres))
    return discovered, configured


async def count_pattern_matches(
    connection: AsyncConnection, pattern: str, limit: int, *, postgres: bool
) -> PatternMatches:
    discovered_statement, configured_statement = pattern_match_statements(pattern, limit, postgres=postgres)
    discovered = int((await connection.execute(discovered_statement)).scalar_one())
    row = (await connection.execute(configured_statement)).one()
    configured, unseen = int(row[0]), int(row[1])
    if discovered > limit:
        return PatternMatches(limit, exact=False, own_setting=configured)
    return PatternMatches(discovered + unseen, exact=True, own_setting=configured)

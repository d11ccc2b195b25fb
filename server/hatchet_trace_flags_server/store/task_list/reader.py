"""Running the task list: the statements :mod:`._task_queries` builds, cached per rule set and
query shape, executed on one connection, their rows turned into :class:`TaskRow`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import RuleSet
from hatchet_trace_flags_server.core.records import COUNT_LIMIT, RuleRecord, TaskList, TaskListQuery, TaskRow

from .search_sql import SEARCH_INDEX_MIN, has_search_index
from .statements import parameters, task_list

__all__ = ["StatementCache", "fetch_tasks", "row_to_task", "rows_to_tasks", "rule_record"]


# For this transaction only. The best plan depends on the values (the search text, the window):
# planned for unknown values after the fifth run of a prepared statement, a search reads every
# discovered task in name order (1.3 s) instead of the trigram index (20 ms). And no parallel
# workers: a list is short work, and on a small machine serving many at once, workers (each
# hashing the rules again) only take the cores that other requests wait for.
_POSTGRES_SETTINGS: Final = sa.text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


class StatementCache:
    """Built statements by query shape (and the kill switch, the one part of the rule set they
    depend on): building one costs event-loop time, so it happens once per shape."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[tuple[object, ...], tuple[sa.Select[Any], list[sa.Select[Any]]]] = {}
        # Whether the search index exists (migration 0006 skips it without FTS5 trigram/pg_trgm).
        self.search_index: bool | None = None

    def get(
        self,
        query: TaskListQuery,
        rules: RuleSet,
        *,
        postgres: bool,
        count_index: bool = False,
        page_index: bool = False,
    ) -> tuple[sa.Select[Any], list[sa.Select[Any]]]:
        shape = (
            rules.links_enabled,
            query.configured,
            query.mode,
            query.sort,
            query.descending,
            bool(query.search),
            count_index,
            page_index,
            query.after is not None,
        )
        built = self._entries.get(shape)
        if built is None:
            if len(self._entries) >= self._size:
                self._entries.clear()
            built = self._entries[shape] = task_list(
                query, rules.links_enabled, postgres=postgres, count_index=count_index, page_index=page_index
            )
        return built


async def fetch_tasks(
    connection: AsyncConnection,
    statements: StatementCache,
    query: TaskListQuery,
    rules: RuleSet,
    *,
    postgres: bool,
) -> TaskList:
    """One page of tasks and the capped count, read on ``connection`` (one consistent snapshot).

    A search counts first (on SQLite from the FTS5 table; it stops after COUNT_LIMIT + 1 rows).
    When that finds at most COUNT_LIMIT discovered tasks, the page sorts just those (found through
    the search index); otherwise the matches are common and reading in the page's order finds a
    page's worth soonest."""
    values = parameters(query)
    if postgres:
        await connection.execute(_POSTGRES_SETTINGS)
    search_index = False
    if query.search is not None and len(query.search) >= SEARCH_INDEX_MIN:
        if statements.search_index is None:
            statements.search_index = await has_search_index(connection, postgres=postgres)
        search_index = statements.search_index
    _, counts = statements.get(query, rules, postgres=postgres, count_index=search_index)
    results = [(await connection.execute(count, values)).one() for count in counts]
    totals: list[int] = [result[0] for result in results]
    # The last part, when a list has it, is the discovered tasks without a rule; counted through
    # the search index, it also lists them.
    narrow = search_index and query.configured is not True and totals[-1] <= COUNT_LIMIT
    if narrow:
        values["listed"] = results[-1][1]
    page, _ = statements.get(query, rules, postgres=postgres, count_index=search_index, page_index=narrow)
    rows = (await connection.execute(page, values)).mappings().all()
    exact = all(total <= COUNT_LIMIT for total in totals)
    # Past the cap, "total" says COUNT_LIMIT and total_exact says it is more.
    return TaskList(rows_to_tasks(rows), sum(totals) if exact else COUNT_LIMIT, exact)


def rule_record(key: str, row: RowMapping | None) -> RuleRecord:
    """A task or pattern rule from its row's columns; ``None``: nothing configured (version 0)."""
    if row is None:
        return RuleRecord(key, None, None, 0, None, None)
    return RuleRecord(
        key,
        row["mode"],
        row["note"],
        row["version"],
        row["updated_at"],
        row["updated_by"],
        row["until"],
        row["reverts_to"],
    )


def row_to_task(row: RowMapping) -> TaskRow:
    # A task without a rule of its own comes out of the outer join with NULL rule columns.
    rule = rule_record(row["action_id"], row if row["version"] is not None else None)
    return TaskRow(
        rule=rule, first_seen=row["first_seen"], last_seen=row["last_seen"], last_worker=row["last_worker"]
    )


def rows_to_tasks(rows: Sequence[RowMapping]) -> list[TaskRow]:
    return [row_to_task(row) for row in rows]

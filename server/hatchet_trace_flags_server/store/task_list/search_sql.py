"""Substring search of the task list ("q="): a case-insensitive substring of action_id.

Case folding is Python's (``core/folding.py``), the same for both databases: each row stores its folded
name where folding changes it (``action_id_folded``, migration 0009), and the search text is folded the
same way. The condition that decides is always ``coalesce(action_id_folded, action_id) LIKE '%text%'``
(text folded). Indexes only find the candidates faster:

- PostgreSQL: a pg_trgm GIN index on that expression serves that very LIKE; nothing to do here.
- SQLite: a contentless FTS5 ``trigram`` table of that expression (its rowids are seen_tasks' rowids)
  finds the rows holding the text, for texts of :data:`SEARCH_INDEX_MIN` characters or more. Both sides
  are folded already (FTS5 folding again changes both alike), so it never drops a row the LIKE would
  keep, and the LIKE still removes any extra.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags_server.core.names.folding import fold
from hatchet_trace_flags_server.store.schema import SEARCH_TABLE, seen_tasks, task_rules

__all__ = [
    "SEARCH_INDEX_MIN",
    "count_matches",
    "has_search_index",
    "like_condition",
    "listed_rows",
    "search_values",
]

_POSTGRES_INDEX: Final = "ix_seen_tasks_search"
# A trigram index finds only texts of at least three characters.
SEARCH_INDEX_MIN: Final = 3
_SEARCH: Final = sa.table(SEARCH_TABLE, sa.column("rowid", sa.Integer))
_SEEN_ROWID: Final = sa.literal_column(f"{seen_tasks.name}.rowid", sa.Integer)
_MATCH: Final = sa.literal_column(SEARCH_TABLE).op("MATCH")(sa.bindparam("phrase", type_=sa.String))


def like_condition(action_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """The search on ``action_id`` of seen_tasks or task_rules, through that table's folded name."""
    table = seen_tasks if action_id is seen_tasks.c.action_id else task_rules
    searched = sa.func.coalesce(table.c.action_id_folded, action_id)
    return searched.like(sa.bindparam("search", type_=sa.String), escape="/")


def listed_rows(*, postgres: bool) -> sa.ColumnElement[bool]:
    """seen_tasks rows the count listed (``listed``, from :func:`count_matches`): the page sorts
    just those and reads the search index no second time."""
    if postgres:
        return seen_tasks.c.action_id == sa.any_(sa.bindparam("listed", type_=postgresql.ARRAY(sa.String)))
    listed = sa.func.json_each(sa.bindparam("listed", type_=sa.String)).table_valued("value")
    return _SEEN_ROWID.in_(sa.select(listed.c.value))


def count_matches(counted: sa.Select[Any], limit: int, *, postgres: bool) -> sa.Select[Any]:
    """How many of ``counted`` (a select from seen_tasks with the search's LIKE) the search index
    finds, up to ``limit``, and a list of them: PostgreSQL the action_ids (an array; its planner
    picks the trigram index), SQLite the rowids (a JSON array), driven by the FTS5 matches row by
    row so that it stops at ``limit`` however many rows hold the text."""
    if postgres:
        found = counted.with_only_columns(seen_tasks.c.action_id).limit(limit).subquery("matched")
        names: sa.ColumnElement[Any] = sa.func.array_agg(found.c.action_id)
        return sa.select(sa.func.count(), names)
    matched = (
        counted.with_only_columns(_SEEN_ROWID.label("seen_rowid"))
        .select_from(_SEARCH.join(seen_tasks, _SEARCH.c.rowid == _SEEN_ROWID))
        .where(_MATCH)
        .limit(limit)
        .subquery("matched")
    )
    return sa.select(sa.func.count(), sa.func.json_group_array(matched.c.seen_rowid))


def search_values(search: str) -> dict[str, str]:
    text = fold(search)
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    # An FTS5 phrase: the text as it is, quotes doubled.
    return {"search": f"%{escaped}%", "phrase": '"' + text.replace('"', '""') + '"'}


async def has_search_index(connection: AsyncConnection, *, postgres: bool) -> bool:
    """Whether migrations 0006 and 0009 could create the search index (SQLite: the FTS5 table, which needs
    FTS5's trigram tokenizer; PostgreSQL: the pg_trgm index, which needs the extension)."""
    found = await connection.execute(
        sa.text("SELECT to_regclass(:name) IS NOT NULL")
        if postgres
        else sa.text("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": _POSTGRES_INDEX if postgres else SEARCH_TABLE},
    )
    return bool(found.scalar_one())

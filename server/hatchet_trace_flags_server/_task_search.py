"""Substring search of the task list ("q="): a case-insensitive substring of action_id.

The condition that decides is always ``lower(action_id) LIKE '%text%'``. Indexes only find the
candidates faster (migration 0006):

- PostgreSQL: a pg_trgm GIN index on ``lower(action_id)`` serves that very LIKE; nothing to do here.
- SQLite: an FTS5 ``trigram`` table over ``seen_tasks`` (its rowids are seen_tasks' rowids) finds
  the rows holding the text, for texts of :data:`SEARCH_INDEX_MIN` characters or more. It folds
  case at least as widely as the LIKE (ASCII; FTS5 also folds other letters), so it never drops
  a row the LIKE would keep, and the LIKE still removes any extra.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ._schema import SEARCH_TABLE, seen_tasks

__all__ = [
    "SEARCH_INDEX_MIN",
    "has_search_table",
    "like_condition",
    "matched_rowids",
    "search_from",
    "search_values",
]

# A trigram index finds only texts of at least three characters.
SEARCH_INDEX_MIN: Final = 3
_SEARCH: Final = sa.table(SEARCH_TABLE, sa.column("rowid", sa.Integer))
_SEEN_ROWID: Final = sa.literal_column(f"{seen_tasks.name}.rowid", sa.Integer)
_MATCH: Final = sa.literal_column(SEARCH_TABLE).op("MATCH")(sa.bindparam("phrase", type_=sa.String))


def like_condition(action_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return sa.func.lower(action_id).like(sa.bindparam("search", type_=sa.String), escape="/")


def matched_rowids() -> sa.ColumnElement[bool]:
    """seen_tasks rows the FTS5 table matches: read every match first, then the rows (for a page
    that must sort every match)."""
    return _SEEN_ROWID.in_(sa.select(_SEARCH.c.rowid).where(_MATCH))


def search_from(counted: sa.Select[Any]) -> sa.Select[Any]:
    """``counted`` (a select from seen_tasks) driven by the FTS5 matches, row by row: with a LIMIT
    it stops after that many, however many rows hold the text."""
    return counted.select_from(_SEARCH.join(seen_tasks, _SEARCH.c.rowid == _SEEN_ROWID)).where(_MATCH)


def search_values(search: str) -> dict[str, str]:
    text = search.lower()
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    # An FTS5 phrase: the text as it is, quotes doubled.
    return {"search": f"%{escaped}%", "phrase": '"' + text.replace('"', '""') + '"'}


async def has_search_table(connection: AsyncConnection) -> bool:
    """Whether migration 0006 could create the FTS5 table (it needs FTS5's trigram tokenizer)."""
    found = await connection.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": SEARCH_TABLE}
    )
    return found.first() is not None

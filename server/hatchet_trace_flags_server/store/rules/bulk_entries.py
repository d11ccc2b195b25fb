"""The import's bulk write of task or pattern rows: every changed key upserted, in batches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags.contract import Mode
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.store.database import chunks

__all__ = ["replace_entries"]


async def replace_entries(
    connection: AsyncConnection,
    table: sa.Table,
    key_column: sa.Column[str],
    before: Mapping[str, Mode],
    after: Mapping[str, Mode],
    author: Author,
    at: datetime,
    *,
    postgres: bool,
) -> None:
    """Write ``after`` over ``before`` in ``table``: only the keys whose mode differs, each version bumped."""
    changed = [key for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
    if not changed:
        return
    versions: dict[str, int] = {}
    for chunk in chunks(sorted(changed), 500):
        rows = await connection.execute(sa.select(key_column, table.c.version).where(key_column.in_(chunk)))
        versions.update(dict(rows.all()))
    values = [
        {
            key_column.name: key,
            "mode": after.get(key),
            "note": author.note,
            "version": versions.get(key, 0) + 1,
            "updated_at": at,
            "updated_by": author.actor,
        }
        for key in changed
    ]
    insert = (postgresql.insert if postgres else sqlite.insert)(table)
    # An imported value is untimed: it cancels a pending expiry of its key.
    columns = ("mode", "note", "version", "updated_at", "updated_by")
    statement = insert.on_conflict_do_update(
        index_elements=[key_column.name], set_={name: insert.excluded[name] for name in columns}
    )
    for batch in chunks(values, 500):
        await connection.execute(statement, batch)

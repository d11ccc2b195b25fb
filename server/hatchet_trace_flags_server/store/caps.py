"""Caps that hold under concurrency: one short lock per capped table around "count, then insert".

A capped table (discovered tasks, insight tasks, workers) takes new rows only while it is under its
cap: the writer counts, then inserts what fits. Two writers doing that at once under PostgreSQL's
READ COMMITTED each count without the other's uncommitted rows and both insert: ten concurrent
reports of 1,000 new tasks left 10,000 rows under a cap of 2,000 (issue 23). SQLite has one writer
at a time (``BEGIN IMMEDIATE``), so it always held.

On PostgreSQL a writer that adds rows counts them under :func:`hold_cap`: a
transaction-scoped advisory lock (``pg_advisory_xact_lock``), one key per capped table. It is the
pattern PostgreSQL's own documentation gives for application-defined locks and what job queues and
quota checks built on PostgreSQL use. The alternatives, weighed:

- A counter row updated with ``UPDATE ... SET n = n + k WHERE n + k <= cap RETURNING``: its row
  lock is held until commit too, so it serialises writers no less, and every path that deletes
  rows (forget, the retention sweep, a conflicting insert that turns out not to be new) must keep
  it in step, or it drifts and the table refuses rows it has room for.
- ``INSERT ... SELECT`` limited by the remaining capacity, without a lock: one statement, but
  under READ COMMITTED its snapshot misses the other writers' uncommitted rows just the same;
  only SERIALIZABLE with retries would make it hold.

What the lock serialises is little: only reports that bring *new* rows take it (the steady state,
reports of known tasks and heartbeats of known workers, never do), each capped table has its own
key, and the writers take it last. Insight tasks (at most 100 a report) and workers (one) count and
insert under it. Discovered tasks come 1,000 a report into a table with a trigram index, an insert
of some 0.3 s on a busy machine: ten such reports queued behind each other ran into the lock's
``lock_timeout`` (2 s, a 503). So those insert first, without the lock (after an optimistic count),
then take it, count again and delete the last of their own new rows past the cap: the lock is held
for a count and the commit. Either way, under the lock the count's statement sees every row
committed by the writers before and the writer's own, so the cap holds exactly at every commit.
"""

from __future__ import annotations

import enum
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["CappedTable", "hold_cap"]


class CappedTable(enum.Enum):
    DISCOVERED_TASKS = 1
    INSIGHT_TASKS = 2
    WORKERS = 3


# pg_advisory_xact_lock(int, int): the first key names this service ("htfl" in ASCII), the second
# the table. The two-key space never meets the one-key space of the migration lock.
_SERVICE_KEY: Final = 0x6874666C


async def hold_cap(connection: AsyncConnection, table: CappedTable) -> bool:
    """On PostgreSQL, wait for ``table``'s cap lock, held until this transaction ends, and return
    True; on SQLite return False (the write transaction already excludes every other writer)."""
    if connection.dialect.name != "postgresql":
        return False
    await connection.execute(
        sa.text("SELECT pg_advisory_xact_lock(:service, :table)"),
        {"service": _SERVICE_KEY, "table": table.value},
    )
    return True

"""Server-side state of dashboard sessions: one row per signed-in browser (``dashboard_sessions``).

The cookie proves who signed in (``http.sessions``); this table says whether that session still
exists. Signing out deletes the row, so a copied cookie stops working at once on every replica;
a session unused for ``idle_seconds`` ends too.
"""

from __future__ import annotations

import time
from typing import Final

import sqlalchemy as sa

from .database import Database
from .schema import dashboard_sessions

__all__ = ["SessionStore"]

# last_seen is written at most this often per session: a page load is then a read, not a write.
_TOUCH_SECONDS: Final = 60


class SessionStore:
    def __init__(self, database: Database, *, idle_seconds: float) -> None:
        self._db = database
        self._idle = idle_seconds

    async def start(self, session_id: str, identity: str, expires_at: int, *, keep: int) -> None:
        """Add a session of ``identity`` (a token's name); its sessions past the ``keep`` most
        recently used ones end, and so do its sessions that ended on their own.

        Every statement reads this token's rows through ``(identity, last_seen)`` only (migration
        0008): a sign-in costs the same at 30 rows or 300,000, and the table holds at most ``keep``
        rows per token name (issue 27: each sign-in scanned the whole table, which had no bound).
        """
        now = int(time.time())
        mine = dashboard_sessions.c.identity == identity
        async with self._db.write_transaction(None) as connection:
            await connection.execute(
                dashboard_sessions.insert().values(
                    id=session_id, identity=identity, last_seen=now, expires_at=expires_at
                )
            )
            others = dashboard_sessions.c.id != session_id
            beyond_bound = (
                sa.select(dashboard_sessions.c.id)
                .where(mine, others)
                .order_by(dashboard_sessions.c.last_seen.desc(), dashboard_sessions.c.id.desc())
                .offset(keep - 1)
            )
            ended = sa.select(dashboard_sessions.c.id).where(
                mine,
                others,
                sa.or_(
                    dashboard_sessions.c.expires_at <= now,
                    dashboard_sessions.c.last_seen < now - int(self._idle),
                ),
            )
            for doomed in (beyond_bound, ended):
                await connection.execute(
                    dashboard_sessions.delete().where(
                        mine, dashboard_sessions.c.id.in_(doomed.scalar_subquery())
                    )
                )

    async def is_live(self, session_id: str) -> bool:
        """Whether the session exists and was used within ``idle_seconds``; marks it used."""
        now = int(time.time())
        async with self._db.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(dashboard_sessions.c.last_seen, dashboard_sessions.c.expires_at).where(
                        dashboard_sessions.c.id == session_id
                    )
                )
            ).one_or_none()
        if row is None or row.expires_at <= now:
            return False
        if now - row.last_seen > self._idle:
            await self.end(session_id)
            return False
        if now - row.last_seen >= _TOUCH_SECONDS:
            async with self._db.write_transaction(None) as connection:
                await connection.execute(
                    dashboard_sessions.update()
                    .where(dashboard_sessions.c.id == session_id)
                    .values(last_seen=now)
                )
        return True

    async def end(self, session_id: str) -> None:
        async with self._db.write_transaction(None) as connection:
            await connection.execute(dashboard_sessions.delete().where(dashboard_sessions.c.id == session_id))

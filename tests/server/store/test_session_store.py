"""Dashboard sessions are bounded per token and a sign-in reads only its token's rows (issue 27:
a read token made sessions without limit, and each sign-in scanned the whole table)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import command
from hatchet_trace_flags_server.store.database import Database, _alembic_config
from hatchet_trace_flags_server.store.schema import dashboard_sessions
from hatchet_trace_flags_server.store.sessions import SessionStore
from sqlalchemy.engine import Connection, ExecutionContext

from tests.support.server.live import SettingsFactory

OTHER_TOKENS = 200  # rows of other tokens a sign-in must not read


async def _ids(database: Database, identity: str) -> set[str]:
    async with database.connect() as connection:
        rows = await connection.execute(
            sa.select(dashboard_sessions.c.id).where(dashboard_sessions.c.identity == identity)
        )
        return set(rows.scalars())


async def test_a_token_keeps_its_most_recently_used_sessions_only(make_settings: SettingsFactory) -> None:
    database = Database(make_settings().sqlalchemy_url())
    await database.migrate()
    try:
        store = SessionStore(database, idle_seconds=1800)
        later = int(time.time()) + 3600
        await store.start("bob-1", "bob", later, keep=3)
        for index in range(5):
            await store.start(f"reader-{index}", "reader", later, keep=3)
            async with database.connect(write=True) as connection, connection.begin():
                # Time passes between sign-ins (nobody waits for it in a test).
                await connection.execute(
                    dashboard_sessions.update().values(last_seen=dashboard_sessions.c.last_seen - 10)
                )
        assert await _ids(database, "reader") == {"reader-2", "reader-3", "reader-4"}
        assert await _ids(database, "bob") == {"bob-1"}  # another token's sessions are its own
        assert not await store.is_live("reader-0")
        assert await store.is_live("reader-4")
    finally:
        await database.dispose()


async def test_a_sign_in_reads_its_own_tokens_rows_through_an_index(make_settings: SettingsFactory) -> None:
    database = Database(make_settings().sqlalchemy_url())
    await database.migrate()
    try:
        later = int(time.time()) + 3600
        async with database.connect(write=True) as connection, connection.begin():
            await connection.execute(
                dashboard_sessions.insert(),
                [
                    {
                        "id": f"other-{index}",
                        "identity": f"token-{index}",
                        "last_seen": 0,
                        "expires_at": later,
                    }
                    for index in range(OTHER_TOKENS)
                ],
            )
            if database.is_postgres:
                await connection.execute(sa.text("ANALYZE dashboard_sessions"))
        statements: list[tuple[str, object]] = []

        def capture(
            _connection: Connection,
            _cursor: object,
            statement: str,
            parameters: object,
            _context: ExecutionContext | None,
            _executemany: bool,
        ) -> None:
            if "dashboard_sessions" in statement and statement.lstrip().upper().startswith("DELETE"):
                statements.append((statement, parameters))

        sa.event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
        await SessionStore(database, idle_seconds=1800).start("mine", "reader", later, keep=3)
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
        assert statements, "a sign-in cleans up its token's sessions"

        async with database.connect() as connection:
            for statement, parameters in statements:
                plan = await _plan(database, connection, statement, parameters)
                assert "dashboard_sessions" in plan
                # "SCAN dashboard_sessions" (SQLite) / "Seq Scan on dashboard_sessions" (PostgreSQL):
                # a read of every row.
                assert "SCAN dashboard_sessions\n" not in plan + "\n", plan
                assert "Seq Scan on dashboard_sessions" not in plan, plan
        # Nothing of the other tokens was touched (their old sessions are theirs to end).
        async with database.connect() as connection:
            count = await connection.execute(sa.select(sa.func.count()).select_from(dashboard_sessions))
            assert count.scalar_one() == OTHER_TOKENS + 1
    finally:
        await database.dispose()


async def _plan(
    database: Database, connection: sa.ext.asyncio.AsyncConnection, statement: str, parameters: object
) -> str:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if database.is_postgres:
        # Sequential scans priced out: one shows up only where no index can serve the statement.
        await driver.execute("SET enable_seqscan = off")
        rows = await driver.fetch(f"EXPLAIN {statement}", *parameters)  # type: ignore[misc]
        return "\n".join(row[0] for row in rows)
    cursor = await driver.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
    return "\n".join(str(row[-1]) for row in await cursor.fetchall())


async def test_the_upgrade_signs_everyone_out_once(make_settings: SettingsFactory) -> None:
    """Cookies signed before itsdangerous cannot verify any more; migration 0008 removes their rows."""
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0006"))
            await connection.execute(
                dashboard_sessions.insert(),
                [
                    {
                        "id": "before",
                        "identity": "alice",
                        "last_seen": 0,
                        "expires_at": int(time.time()) + 3600,
                    }
                ],
            )
            await connection.commit()
        await database.migrate()
        assert await _ids(database, "alice") == set()
        store = SessionStore(database, idle_seconds=1800)
        await store.start("after", "alice", int(time.time()) + 3600, keep=3)
        assert await store.is_live("after")
    finally:
        await database.dispose()

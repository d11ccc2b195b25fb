"""Migration 0006's indexes for the task list: the reversed action_id (suffix patterns), the
PostgreSQL text_pattern_ops and pg_trgm indexes and SQLite's FTS5 trigram table (substring
search). They exist after migrating, stay in step with seen_tasks, and the list's SQL uses them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from hatchet_trace_flags_server.core.records import TaskListQuery
from hatchet_trace_flags_server.store.database import Database, _alembic_config
from hatchet_trace_flags_server.store.schema import DIALECT_OBJECTS, SEARCH_TABLE, utcnow
from hatchet_trace_flags_server.store.seen_tasks import SeenStore
from hatchet_trace_flags_server.store.task_list.statements import parameters, task_list
from sqlalchemy.ext.asyncio import AsyncConnection

from hatchet_trace_flags import RuleSet
from tests.support.server.live import SettingsFactory

pytestmark = pytest.mark.timeout(120)

NAMES = ["billing:Send-Email", "billing:refund", "shop:send-email", "shop:checkout", "a_b:x%y", 'q"uote:task']


@pytest.fixture
async def database(make_settings: SettingsFactory) -> AsyncIterator[Database]:
    # A generous bound: these tests read plans, and a loaded CI machine once took over the default
    # second per round trip (the statement was cancelled, the rollback after it timed out).
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


async def _search_table(connection: AsyncConnection, text: str) -> set[str]:
    """What SQLite's FTS5 index holds for ``text``, read back through seen_tasks' rowids."""
    rows = await connection.execute(
        sa.text(
            # LEFT JOIN: a rowid the index kept after its row went away reads as None.
            "SELECT s.action_id FROM seen_tasks_search AS f LEFT JOIN seen_tasks AS s ON s.rowid = f.rowid "
            "WHERE seen_tasks_search MATCH :phrase"
        ),
        {"phrase": '"' + text.replace('"', '""') + '"'},
    )
    return set(rows.scalars())


async def test_dialect_only_objects_exist_after_migrating(database: Database) -> None:
    async with database.connect() as connection:
        if database.is_postgres:
            names = await connection.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'seen_tasks'")
            )
            extension = await connection.execute(
                sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            )
            assert extension.first() is not None
        else:
            names = await connection.execute(sa.text("SELECT name FROM sqlite_master"))
        found = set(names.scalars())
    assert set(DIALECT_OBJECTS[database.backend]) <= found
    assert "ix_seen_tasks_action_id_reversed" in found


async def test_reversed_names_and_search_table_follow_every_write(database: Database) -> None:
    seen = SeenStore(database, None)
    await seen.record("w1", NAMES, cap=100)
    await seen.record("w2", NAMES[:2], cap=100)  # refreshes rows: the search table is unaffected
    await seen.forget(["shop:checkout"])
    async with database.write_transaction(None) as connection:  # the retention sweep's victim
        await connection.execute(
            sa.text("UPDATE seen_tasks SET last_seen = :old WHERE action_id = 'billing:refund'"),
            {"old": utcnow() - timedelta(days=30)},
        )
    await seen.expire(utcnow() - timedelta(days=1))
    remaining = {"billing:Send-Email", "shop:send-email", "a_b:x%y", 'q"uote:task'}
    async with database.connect() as connection:
        rows = await connection.execute(sa.text("SELECT action_id, action_id_reversed FROM seen_tasks"))
        assert dict(rows.all()) == {name: name[::-1] for name in remaining}
        if database.is_postgres:
            return
        assert await _search_table(connection, "send-email") == {"billing:Send-Email", "shop:send-email"}
        assert await _search_table(connection, "SEND") == {"billing:Send-Email", "shop:send-email"}
        assert await _search_table(connection, "refund") == set()  # expired
        assert await _search_table(connection, "checkout") == set()  # forgotten
        assert await _search_table(connection, 'q"u') == {'q"uote:task'}
        await connection.execute(
            sa.text("UPDATE seen_tasks SET action_id = 'renamed:x' WHERE action_id = 'a_b:x%y'")
        )
        assert await _search_table(connection, "x%y") == set()
        assert await _search_table(connection, "renamed") == {"renamed:x"}
        await connection.rollback()


async def test_the_migration_fills_in_existing_rows(make_settings: SettingsFactory) -> None:
    # A generous bound: these tests read plans, and a loaded CI machine once took over the default
    # second per round trip (the statement was cancelled, the rollback after it timed out).
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0005"))
            await connection.execute(
                sa.text(
                    "INSERT INTO seen_tasks (action_id, first_seen, last_seen, last_worker) "
                    "VALUES (:name, :now, :now, 'w')"
                ),
                [{"name": name, "now": utcnow()} for name in NAMES],
            )
            await connection.commit()
        await database.migrate()
        async with database.connect() as connection:
            rows = await connection.execute(sa.text("SELECT action_id, action_id_reversed FROM seen_tasks"))
            assert dict(rows.all()) == {name: name[::-1] for name in NAMES}
            if not database.is_postgres:
                assert await _search_table(connection, "email") == {"billing:Send-Email", "shop:send-email"}
    finally:
        await database.dispose()


async def _plan(database: Database, query: TaskListQuery, rules: RuleSet, **flags: bool) -> str:
    """The query plans of the page and count statements, as one text."""
    page, counts = task_list(query, rules.links_enabled, postgres=database.is_postgres, **flags)
    plans: list[str] = []
    async with database.connect() as connection:
        if database.is_postgres:
            # The test tables are tiny: forbid the sequential scan (and the whole-index scan in name
            # order, which a tiny table also makes cheap) to see what indexes can serve.
            # Statistics taken now, not whenever autovacuum gets to the table: the same plan on
            # every run (one full-suite run once chose differently).
            await connection.execute(sa.text("ANALYZE seen_tasks"))
            await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
            await connection.execute(sa.text("SET LOCAL enable_indexscan = off"))
        for statement in [page, *counts]:
            compiled = statement.compile(dialect=connection.dialect)
            values: dict[str, Any] = {**compiled.params, **parameters(query)}
            prefix = "EXPLAIN " if database.is_postgres else "EXPLAIN QUERY PLAN "
            raw = sa.text(prefix + str(compiled)) if database.is_postgres else None
            if raw is not None:
                driver = (await connection.get_raw_connection()).driver_connection
                assert driver is not None
                rows = await driver.fetch(
                    prefix + str(compiled), *[values[key] for key in compiled.positiontup or ()]
                )
                plans += [row[0] for row in rows]
            else:
                result = await connection.exec_driver_sql(
                    prefix + str(compiled), tuple(values[key] for key in compiled.positiontup or ())
                )
                plans += [str(row[-1]) for row in result]
    return "\n".join(plans)


async def test_mode_filter_reads_the_stored_mode_index(database: Database) -> None:
    """Whatever the patterns, "mode=link" is one range of an index of the stored effective mode (issue
    23: it was a CASE over every pattern, evaluated for every discovered task)."""
    await SeenStore(database, None).record("w", NAMES, cap=100)
    rules = RuleSet(patterns={"billing:*": "link", "*:send-email": "link"})
    plan = await _plan(database, TaskListQuery(mode="link"), rules)
    assert "ix_seen_tasks_effective_mode" in plan, plan


async def test_search_reads_the_trigram_index(database: Database) -> None:
    await SeenStore(database, None).record("w", NAMES, cap=100)
    query = TaskListQuery(search="email")
    if database.is_postgres:
        plan = await _plan(database, query, RuleSet(), count_index=True)
        assert "ix_seen_tasks_search" in plan, plan
    else:
        plan = await _plan(database, query, RuleSet(), count_index=True)
        assert f"SCAN {SEARCH_TABLE} VIRTUAL TABLE" in plan, plan


@pytest.mark.parametrize("text", ["EMAIL", "send-e", "a_b", "x%y", 'q"u', "ing:", "ok", "zzz", "ask"])
async def test_search_keeps_its_meaning(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, text: str
) -> None:
    """A case-insensitive substring of action_id, configured-but-unseen tasks included, whether
    the index finds the rows (three characters or more) or not."""
    await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": NAMES})
    for name in ("never:seen-email", "billing:ask"):
        assert (await client.put(f"/api/v1/tasks/{name}", json={"mode": "link"})).status_code == 200
    everything = [*NAMES, "never:seen-email", "billing:ask"]
    page = (await client.get("/api/v1/tasks", params={"q": text, "limit": 100})).json()
    expected = sorted(name for name in everything if text.lower() in name.lower())
    assert [item["action_id"] for item in page["items"]] == expected
    assert (page["total"], page["total_exact"]) == (len(expected), True)


# One case folding (Python's, migration 0009) on both databases: non-ASCII letters, final and medial
# sigma, sharp s; through the index (3+ characters) and without it (shorter).
UNICODE_NAMES = ["Uni:ÄBCDEF", "greek:ΟΔΟΣ-up", "greek:οδος-low", "de:Straße", "plain:abc"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ÄBC", ["Uni:ÄBCDEF"], id="upper-umlaut"),
        pytest.param("äbcd", ["Uni:ÄBCDEF"], id="lower-umlaut"),
        pytest.param("Ä", ["Uni:ÄBCDEF"], id="one-letter"),
        pytest.param("ΟΔΟΣ", ["greek:οδος-low", "greek:ΟΔΟΣ-up"], id="capital-sigma"),
        pytest.param("οδος", ["greek:οδος-low", "greek:ΟΔΟΣ-up"], id="final-sigma"),
        pytest.param("ς-", ["greek:οδος-low", "greek:ΟΔΟΣ-up"], id="final-sigma-short"),
        pytest.param("STRASSE", ["de:Straße"], id="sharp-s"),
        pytest.param("aße", ["de:Straße"], id="sharp-s-in-query"),
        pytest.param("ABC", ["plain:abc"], id="ascii-is-not-umlaut"),
    ],
)
async def test_search_folds_case_beyond_ascii(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, text: str, expected: list[str]
) -> None:
    await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": UNICODE_NAMES[:3]})
    for name in UNICODE_NAMES[3:]:  # configured, never seen: the rules' branch of the list
        assert (await client.put(f"/api/v1/tasks/{name}", json={"mode": "link"})).status_code == 200
    page = (await client.get("/api/v1/tasks", params={"q": text, "limit": 100})).json()
    assert [item["action_id"] for item in page["items"]] == sorted(expected)
    assert page["total"] == len(expected)


async def test_pattern_search_folds_the_same_way(client: httpx.AsyncClient) -> None:
    for pattern in ("Uni:ÄB*", "*:ΟΔΟΣ", "de:Straße*"):
        assert (await client.put(f"/api/v1/patterns/{pattern}", json={"mode": "link"})).status_code == 200
    for text, expected in [("äb", ["Uni:ÄB*"]), ("οδος", ["*:ΟΔΟΣ"]), ("strasse", ["de:Straße*"])]:
        page = (await client.get("/api/v1/patterns", params={"q": text})).json()
        assert [item["pattern"] for item in page["items"]] == expected, text


async def test_the_migration_folds_existing_rows(make_settings: SettingsFactory) -> None:
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0006"))
            await connection.execute(
                sa.text(
                    "INSERT INTO seen_tasks (action_id, action_id_reversed, first_seen, last_seen, "
                    "last_worker) VALUES (:name, :reversed, :now, :now, 'w')"
                ),
                [{"name": name, "reversed": name[::-1], "now": utcnow()} for name in UNICODE_NAMES],
            )
            await connection.commit()
        await database.migrate()
        async with database.connect() as connection:
            rows = await connection.execute(sa.text("SELECT action_id, action_id_folded FROM seen_tasks"))
            folded = dict(rows.all())
            if not database.is_postgres:
                assert await _search_table(connection, "äbc") == {"Uni:ÄBCDEF"}
                assert await _search_table(connection, "οδοσ") == {"greek:ΟΔΟΣ-up", "greek:οδος-low"}
        assert folded == {
            "Uni:ÄBCDEF": "uni:äbcdef",
            "greek:ΟΔΟΣ-up": "greek:οδοσ-up",
            "greek:οδος-low": "greek:οδοσ-low",
            "de:Straße": "de:strasse",
            "plain:abc": None,  # nothing to fold: nothing stored
        }
    finally:
        await database.dispose()

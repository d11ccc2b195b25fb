"""The pattern preview's counts (issue 26): how many known tasks a pattern names, exactly as the rule
set decides, counted up to a limit, and read from an index range of seen_tasks (fast at a million)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.store import Store
from hatchet_trace_flags_server.store.task_list.pattern_matches import pattern_match_statements

from hatchet_trace_flags import RuleSet
from tests.support.server.live import SettingsFactory

pytestmark = pytest.mark.timeout(120)

SEEN = [
    "billing:Send-Email",
    "billing:refund",
    "billing_eu:refund",
    "shop:send-email",
    "shop:checkout",
    "a_b:x%y",
    "a%b:send-email",
]
CONFIGURED = {"billing:invoice": "link", "shop:checkout": "parent", "mailer:send-email": "parent"}
PATTERNS = [
    "billing:*",
    "billing*",
    "*:send-email",
    "*-email",
    "a_b:*",
    "a%*",
    "*%y",
    "nothing:*",
    "*:Refund",
]


@pytest.fixture
async def database(make_settings: SettingsFactory) -> AsyncIterator[Database]:
    # A generous bound: these tests read plans on a possibly loaded machine.
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def store(database: Database) -> Store:
    store = Store(database)
    await store.seen.record("w", SEEN, cap=1000)
    for action_id, mode in CONFIGURED.items():
        await store.writes.set_task(action_id, mode, Author("alice", "test"))  # type: ignore[arg-type]
    return store


def _named(pattern: str, names: set[str]) -> set[str]:
    rules = RuleSet(patterns={pattern: "link"})
    return {name for name in names if rules.evaluate(name).reason == "pattern"}


async def test_counts_are_what_the_rule_set_decides(store: Store) -> None:
    known = set(SEEN) | set(CONFIGURED)
    for pattern in PATTERNS:
        matches = await store.queries.pattern_matches(pattern, limit=100)
        named = _named(pattern, known)
        assert (matches.tasks, matches.exact) == (len(named), True), pattern
        assert matches.own_setting == len(named & set(CONFIGURED)), pattern


async def test_counts_stop_at_the_limit(store: Store) -> None:
    matches = await store.queries.pattern_matches("billing*", limit=2)
    assert (matches.tasks, matches.exact) == (2, False)
    assert (await store.queries.pattern_matches("billing*", limit=3)).exact is True


async def _plan(database: Database, statement: sa.Select[Any]) -> str:
    async with database.connect() as connection:
        compiled = statement.compile(dialect=connection.dialect)
        values = [compiled.params[key] for key in compiled.positiontup or ()]
        if database.is_postgres:
            # A tiny table: forbid the sequential scan to see what indexes can serve.
            await connection.execute(sa.text("ANALYZE seen_tasks"))
            await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            rows = await driver.fetch("EXPLAIN " + str(compiled), *values)
            return "\n".join(row[0] for row in rows)
        result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(values))
        return "\n".join(str(row[-1]) for row in result)


@pytest.mark.parametrize(
    ("pattern", "index"),
    [("billing:*", "action_id"), ("*:send-email", "ix_seen_tasks_action_id_reversed")],
)
async def test_discovered_tasks_are_one_index_range(
    store: Store, database: Database, pattern: str, index: str
) -> None:
    discovered, _configured = pattern_match_statements(pattern, 100, postgres=database.is_postgres)
    plan = await _plan(database, discovered)
    assert "Seq Scan" not in plan, plan
    assert "SCAN seen_tasks\n" not in plan + "\n", plan  # SQLite: a whole-table scan
    if index == "action_id":
        expected = (
            "ix_seen_tasks_action_id_pattern" if database.is_postgres else "(action_id>? AND action_id<?)"
        )
    else:
        expected = index
    assert expected in plan, plan

"""The stored effective mode (migration 0012, ``store/task_modes.py``): existing rows are decided by the
migration, and a batch decided with a rule set that is no longer the stored one is never written."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.store.database import Database, _alembic_config
from hatchet_trace_flags_server.store.schema import pattern_rules, task_rules, utcnow
from hatchet_trace_flags_server.store.seen_tasks import SeenStore
from hatchet_trace_flags_server.store.task_modes import ModeStore

from hatchet_trace_flags import RuleSet
from tests.support.server.live import SettingsFactory

pytestmark = pytest.mark.timeout(120)

NAMES = ["prod_a:one", "prod_a:send-email", "dev_b:send-email", "dev_b:two", "other:three"]
RULES = RuleSet(
    default="link",
    tasks={"dev_b:two": "parent"},
    patterns={"prod_*": "parent", "*:send-email": "link", "prod_a:send-*": "parent"},
)


@pytest.fixture
async def database(make_settings: SettingsFactory) -> AsyncIterator[Database]:
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    try:
        yield database
    finally:
        await database.dispose()


async def _stored(database: Database) -> dict[str, tuple[str | None, str | None]]:
    async with database.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT action_id, effective_mode, mode_rule FROM seen_tasks")
        )
        return {action_id: (mode, rule) for action_id, mode, rule in rows}


async def _revision(database: Database) -> int:
    async with database.connect() as connection:
        revision: int = (await connection.execute(sa.text("SELECT revision FROM rule_state"))).scalar_one()
    return revision


def _decided(rules: RuleSet) -> dict[str, tuple[str | None, str | None]]:
    return {name: (rules.evaluate(name).mode, rules.evaluate(name).rule) for name in NAMES}


async def test_the_migration_decides_existing_rows(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0009"))
        now = utcnow()
        await connection.execute(
            sa.text("UPDATE rule_state SET default_mode = :default WHERE id = 1"), {"default": RULES.default}
        )
        for table, key, entries in (
            (pattern_rules, "pattern", RULES.patterns),
            (task_rules, "action_id", RULES.tasks),
        ):
            await connection.execute(
                table.insert(),
                [
                    {key: name, "mode": mode, "version": 1, "updated_at": now, "updated_by": "test"}
                    for name, mode in entries.items()
                ],
            )
        await connection.execute(
            sa.text(
                "INSERT INTO seen_tasks (action_id, action_id_reversed, first_seen, last_seen, last_worker) "
                "VALUES (:name, :reversed, :now, :now, 'w')"
            ),
            [{"name": name, "reversed": name[::-1], "now": now} for name in NAMES],
        )
        await connection.commit()
    await database.migrate()
    assert await _stored(database) == _decided(RULES)


async def test_a_batch_decided_with_older_rules_is_not_written(database: Database) -> None:
    await database.migrate()
    await SeenStore(database, None).record("w", NAMES, cap=100)  # no served rules: stored undecided
    modes = ModeStore(database, None)
    rows = await modes.undecided(100)
    assert {row.action_id for row in rows} == set(NAMES)
    revision = await _revision(database)
    older = RulesSnapshot.of(revision, RuleSet(patterns={"prod_*": "link"}))
    async with database.connect() as connection, connection.begin():
        await connection.execute(sa.text("UPDATE rule_state SET revision = revision + 1"))
    assert not (await modes.write(older, rows)).written
    assert await _stored(database) == dict.fromkeys(NAMES, (None, None))
    current = RulesSnapshot.of(revision + 1, RULES)
    assert (await modes.write(current, rows)).written
    assert await _stored(database) == _decided(RULES)


def _stored_now(path: str) -> dict[str, tuple[str | None, str | None]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT action_id, effective_mode, mode_rule FROM seen_tasks")
        return {action_id: (mode, rule) for action_id, mode, rule in rows}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_batch_commits_while_the_event_loop_is_busy(database: Database) -> None:
    """Issue 23: a batch held SQLite's write lock between its statements for as long as the event loop
    took to come back to it (hundreds of ms behind busy request handlers)."""
    await database.migrate()
    await SeenStore(database, None).record("w", NAMES, cap=100)
    modes = ModeStore(database, asyncio.Lock())
    rows = await modes.undecided(100)
    revision = await _revision(database)
    path = str(database.url.database)

    stored_while_busy: list[bool] = []

    def busy_until_stored() -> None:  # holds the event loop, as a slow request handler would
        deadline = time.monotonic() + 30
        while _stored_now(path) != _decided(RULES) and time.monotonic() < deadline:
            time.sleep(0.01)
        stored_while_busy.append(_stored_now(path) == _decided(RULES))

    loop = asyncio.get_running_loop()
    batch = asyncio.create_task(modes.write(RulesSnapshot.of(revision, RULES), rows))
    loop.call_soon(busy_until_stored)  # runs once the batch has reached its first wait
    outcome = await batch
    assert stored_while_busy == [True], "the batch waited for the event loop"
    assert outcome.written


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_batch_is_checkpointed_into_the_database_file(database: Database, tmp_path: Path) -> None:
    """A batch's commit leaves the checkpoint to after the lock; without one, a recompute that is the
    only writer would grow the log without bound."""
    await database.migrate()
    await SeenStore(database, None).record("w", NAMES, cap=100)
    modes = ModeStore(database, None)
    revision = await _revision(database)
    assert (await modes.write(RulesSnapshot.of(revision, RULES), await modes.undecided(100))).written
    main_file_only = tmp_path / "copy.sqlite"  # the database file without its log
    shutil.copyfile(str(database.url.database), main_file_only)
    assert _stored_now(str(main_file_only)) == _decided(RULES)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_batch_that_fails_half_way_writes_nothing_and_frees_the_lock(database: Database) -> None:
    await database.migrate()
    await SeenStore(database, None).record("w", NAMES, cap=100)
    lock = asyncio.Lock()

    def fails_after_writing(connection: sqlite3.Connection) -> None:
        connection.execute("UPDATE seen_tasks SET effective_mode = 'link'")
        raise sqlite3.IntegrityError("as a constraint would")

    with pytest.raises(sqlite3.IntegrityError):
        await database.write_derived(fails_after_writing, lock)
    assert not lock.locked()
    assert _stored_now(str(database.url.database)) == dict.fromkeys(NAMES, (None, None))
    changes, _held = await database.write_derived(lambda connection: connection.total_changes, lock)
    assert changes == 0  # the next batch gets the lock (within the busy timeout) and starts clean

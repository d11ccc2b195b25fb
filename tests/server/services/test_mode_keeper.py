"""Issue 23: each discovered task's effective mode is stored (``seen_tasks.effective_mode`` and
``mode_rule``) and stays what the contract's ``RuleSet`` decides through discovery, pattern changes,
task overrides, the default and the kill switch; a recompute runs in short batches that requests
never wait behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import sqlalchemy as sa
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.services.mode_keeper import ModeKeeper
from hatchet_trace_flags_server.store.database import Database

from hatchet_trace_flags import RuleSet
from tests.support.server.live import LiveServer, SettingsFactory
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(120)

SEEN = [
    "prod_fanout:process-item",
    "prod_fanout:resize",
    "prod_mail:send-email",
    "dev_mail:send-email",
    "dev_mail:digest",
    "batch:send-email-later",
]


@pytest.fixture
async def database(live: LiveServer, make_settings: SettingsFactory) -> AsyncIterator[Database]:
    """The live server's database, read from the test's own event loop."""
    database = Database(make_settings().sqlalchemy_url(), timeout_seconds=30)
    try:
        yield database
    finally:
        await database.dispose()


def _keeper(live: LiveServer) -> ModeKeeper:
    keeper = state_of(live.app).mode_keeper
    assert keeper is not None
    return keeper


async def _stored(database: Database) -> dict[str, tuple[str | None, str | None]]:
    async with database.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT action_id, effective_mode, mode_rule FROM seen_tasks")
        )
        return {action_id: (mode, rule) for action_id, mode, rule in rows}


def _decided(rules: RuleSet, action_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    return {
        action_id: (rules.evaluate(action_id).mode, rules.evaluate(action_id).rule)
        for action_id in action_ids
    }


async def _report(reader: httpx.AsyncClient, action_ids: list[str]) -> None:
    response = await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": action_ids})
    assert response.status_code == 200, response.text


async def test_stored_modes_follow_every_kind_of_change(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, database: Database
) -> None:
    rules = RuleSet()
    await _report(reader, SEEN[:3])
    assert await _stored(database) == _decided(rules, SEEN[:3])
    seen = SEEN[:3]

    async def check(step: str) -> None:
        assert await _stored(database) == _decided(rules, seen), step

    # A change answers once its recompute is stored: no waiting needed below.
    for pattern, mode in (("prod_*", "link"), ("*:send-email", "parent"), ("prod_mail:*", "link")):
        assert (await client.put(f"/api/v1/patterns/{pattern}", json={"mode": mode})).status_code == 200
        rules = rules.with_pattern(pattern, mode)
        await check(f"pattern {pattern}")
    assert (await client.put("/api/v1/tasks/prod_fanout:resize", json={"mode": "parent"})).status_code == 200
    rules = rules.with_task("prod_fanout:resize", "parent")
    await check("task override")
    await _report(reader, SEEN)  # discovery with patterns in place
    seen = SEEN
    await check("discovery")
    assert (await client.delete("/api/v1/tasks/prod_fanout:resize")).status_code in (200, 204)
    rules = rules.with_task("prod_fanout:resize", None)
    await check("override cleared")
    assert (await client.delete("/api/v1/patterns/prod_mail:*")).status_code in (200, 204)
    rules = rules.with_pattern("prod_mail:*", None)
    await check("pattern removed")
    assert (await client.patch("/api/v1/settings", json={"links_enabled": False})).status_code == 200
    rules = rules.with_settings(links_enabled=False)
    await check("kill switch")
    assert (
        await client.patch("/api/v1/settings", json={"links_enabled": True, "default": "link"})
    ).status_code == 200
    rules = rules.with_settings(links_enabled=True, default="link")
    await check("default")
    rules = RuleSet(patterns={"*-email": "parent", "dev_*": "link"}, tasks={"batch:send-email-later": "link"})
    assert (await client.post("/api/v1/import", content=rules.dumps())).status_code == 200
    await check("import")
    listed = (await client.get("/api/v1/tasks", params={"mode": "link", "limit": 100})).json()["items"]
    assert sorted(item["action_id"] for item in listed) == sorted(
        a for a in SEEN if rules.evaluate(a).mode == "link"
    )


async def test_rows_stored_without_a_mode_are_decided(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, database: Database
) -> None:
    """A report that raced a rule change stores its new rows undecided; the keeper decides them."""
    assert (await client.put("/api/v1/patterns/dev_*", json={"mode": "link"})).status_code == 200
    await _report(reader, SEEN)
    async with database.connect() as connection, connection.begin():
        await connection.execute(sa.text("UPDATE seen_tasks SET effective_mode = NULL, mode_rule = NULL"))
    rules = RuleSet(patterns={"dev_*": "link"})
    await until(
        lambda: _matches(database, _decided(rules, SEEN)), what=lambda: "undecided rows were not decided"
    )


async def _matches(database: Database, expected: dict[str, tuple[str | None, str | None]]) -> bool:
    return await _stored(database) == expected


async def test_a_recompute_runs_in_batches_that_requests_do_not_wait_behind(
    live: LiveServer, client: httpx.AsyncClient, reader: httpx.AsyncClient, database: Database
) -> None:
    keeper = _keeper(live)
    keeper.write_batch = 100
    bulk = [f"bulk:task-{index:04d}" for index in range(450)]
    await _report(reader, bulk)
    holding, release = threading.Event(), threading.Event()
    gates = 0

    async def gate() -> None:  # runs on the server's event loop, before each write batch
        nonlocal gates
        gates += 1
        if gates == 2:
            holding.set()
            await asyncio.to_thread(release.wait)

    keeper.between_batches = gate
    batches_before = keeper.batches
    change = asyncio.create_task(client.put("/api/v1/patterns/bulk:*", json={"mode": "link"}))
    try:
        await until(holding.is_set, what="the recompute never reached its second batch")
        # Mid-recompute: health, lists, reports and OFREP all answer.
        assert (await client.get("/healthz")).status_code == 200
        page = await client.get("/api/v1/tasks", params={"mode": "link", "limit": 1000})
        assert page.status_code == 200
        assert page.json()["total"] == 100  # exactly the first batch is stored so far
        await _report(reader, ["late:task"])
        ofrep = await reader.post(
            "/ofrep/v1/evaluate/flags/hatchet.use-links-instead-of-parent",
            json={"context": {"targetingKey": "bulk:task-0000"}},
        )
        assert ofrep.status_code == 200, ofrep.text
        assert not change.done()
    finally:
        release.set()
    assert (await change).status_code == 200
    rules = RuleSet(patterns={"bulk:*": "link"})
    await until(
        lambda: _matches(database, _decided(rules, [*bulk, "late:task"])),
        what="the recompute did not finish",
    )
    assert keeper.batches - batches_before >= 5  # 450 rows, 100 a batch


async def test_a_process_starting_after_an_unfinished_recompute_decides_every_row(
    live: LiveServer,
    live_factory: Callable[[Settings], LiveServer],
    make_settings: SettingsFactory,
    client: httpx.AsyncClient,
    reader: httpx.AsyncClient,
    database: Database,
) -> None:
    assert (await client.put("/api/v1/patterns/*:send-email", json={"mode": "link"})).status_code == 200
    await _report(reader, SEEN)
    live.stop()
    # As a process stopped half-way through a recompute leaves it: wrong modes, revision not recorded.
    async with database.connect() as connection, connection.begin():
        await connection.execute(sa.text("UPDATE seen_tasks SET effective_mode = 'parent', mode_rule = NULL"))
        await connection.execute(sa.text("UPDATE rule_state SET modes_revision = NULL"))
    live_factory(make_settings())
    rules = RuleSet(patterns={"*:send-email": "link"})
    await until(lambda: _matches(database, _decided(rules, SEEN)), what="the walk at start did not run")

"""Workers' reports of themselves (``POST /api/v1/workers/report``), the fleet (``GET /api/v1/workers``) and
a change's reach (``GET /api/v1/workers/reach``): on SQLite and PostgreSQL, against a real server."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.http.app_state import state_of

from hatchet_trace_flags.contract import (
    REVISION_HEADER,
    SNAPSHOT_PATH,
    WORKER_REPORT_PATH,
    WORKERS_PATH,
)
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth
from tests.support.server.worker_reports import worker_report as report
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(60)

Start = Callable[..., LiveServer]


@pytest.fixture
def start(live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory) -> Start:
    def run(**overrides: object) -> LiveServer:
        return live_factory(make_settings(**overrides))

    return run


async def workers(admin: httpx.AsyncClient) -> dict[str, Any]:
    response = await admin.get(WORKERS_PATH)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def change(admin: httpx.AsyncClient) -> int:
    """Change a rule; returns the new revision."""
    written = await admin.put("/api/v1/tasks/a:task", json={"mode": "link"})
    assert written.status_code == 200, written.text
    snapshot = await admin.get(SNAPSHOT_PATH)
    return int(snapshot.headers[REVISION_HEADER])


def by_name(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["worker"]: item for item in page["items"]}


async def test_the_fleet_lists_each_worker_with_the_revision_it_applies(live: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        revision = await change(admin)
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w-current", revision))).json() == {
            "recorded": True
        }
        assert (
            await reader.post(WORKER_REPORT_PATH, json=report("w-behind", revision - 1))
        ).status_code == 200
        # A worker whose library sends no report of itself is known from its task report.
        seen = await reader.post("/api/v1/tasks/seen", json={"worker": "w-old", "action_ids": ["a:task"]})
        assert seen.status_code == 200

        page = await workers(admin)
        items = by_name(page)
        assert {name: (item["revision"], item["state"]) for name, item in items.items()} == {
            "w-current": (revision, "current"),
            "w-behind": (revision - 1, "behind"),
            "w-old": (None, "unknown"),
        }
        assert items["w-current"]["host"] == "host-1"
        assert items["w-current"]["streaming"] is True
        assert items["w-current"]["applied_since"].startswith("2023-11-14T22:13:20.5")
        assert items["w-old"]["reported"] is False
        assert page["summary"]["text"] == (
            f"1 of 3 workers on rev {revision}; 1 behind, last contact just now; 1 on an unknown revision"
        )
        # Operators only: a worker's read token cannot list the fleet.
        assert (await reader.get(WORKERS_PATH)).status_code == 403


BAD_REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("revision as text", {"revision": "7"}),
    ("streaming as text", {"streaming": "yes"}),
    ("running not a list", {"running": "a:task"}),
    ("negative revision", {"revision": -1}),
    ("unknown field", {"colour": "blue"}),
    ("unknown source", {"source": "somewhere"}),
    ("host too long", {"host": "h" * 256}),
    ("version too long", {"library_version": "1" * 65}),
    ("control character", {"worker": "w\x00"}),
    ("too many running", {"running": [f"a:t{index}" for index in range(1001)]}),
    ("invalid running action_id", {"running": ["a:task", "not an action id"]}),
    ("applied_at not finite", {"applied_at": "NaN"}),
]


@pytest.mark.parametrize(("case", "change"), BAD_REPORTS, ids=[case for case, _ in BAD_REPORTS])
async def test_a_bad_report_is_refused_and_changes_nothing(
    live: LiveServer, database_url: str | None, case: str, change: dict[str, Any]
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": ["a:task"]})
        await _age_sightings(live, database_url)
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w", 0))).status_code == 200
        before = await workers(admin)
        task_before = (await admin.get("/api/v1/tasks/a:task")).json()

        bad = {**report("w", 5, host="elsewhere", running=["a:task"]), **change}
        refused = await reader.post(WORKER_REPORT_PATH, json=bad)
        assert 400 <= refused.status_code < 500, (case, refused.status_code, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"

        assert await workers(admin) == before
        assert (await admin.get("/api/v1/tasks/a:task")).json() == task_before
        # The same report without the fault goes through: what stayed the same was the refusal's doing.
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w", 5))).status_code == 200
        assert by_name(await workers(admin))["w"]["revision"] == 5


async def test_an_oversize_report_is_refused_before_it_is_read(start: Start) -> None:
    live = start(max_body_bytes=4096)
    async with httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader:
        body = report("w", 0, running=[f"a:task-{index:05d}" for index in range(400)])
        refused = await reader.post(WORKER_REPORT_PATH, json=body)
        assert refused.status_code == 413
    async with httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        assert (await workers(admin))["items"] == []


async def _age_sightings(live: LiveServer, database_url: str | None) -> None:
    """Move every sighting ten minutes into the past, as if the tasks had last been reported then."""
    old = datetime.now(UTC) - timedelta(minutes=10)
    if database_url is None:
        path = state_of(live.app).services.settings.sqlite_path
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute("UPDATE seen_tasks SET last_seen = ?", (old.strftime("%Y-%m-%d %H:%M:%S.%f"),))
        return
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("UPDATE seen_tasks SET last_seen = $1", old)
    finally:
        await connection.close()


async def test_a_heartbeat_refreshes_the_last_sighting_of_the_tasks_it_ran_again(
    live: LiveServer, database_url: str | None
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        reported = await reader.post(
            "/api/v1/tasks/seen", json={"worker": "w1", "action_ids": ["a:often", "a:once"]}
        )
        assert reported.status_code == 200
        await _age_sightings(live, database_url)

        heartbeat = report("w2", 0, running=["a:often", "a:never-reported"])
        assert (await reader.post(WORKER_REPORT_PATH, json=heartbeat)).status_code == 200

        now = datetime.now(UTC)
        often = (await admin.get("/api/v1/tasks/a:often")).json()
        once = (await admin.get("/api/v1/tasks/a:once")).json()
        assert now - datetime.fromisoformat(often["last_seen"]) < timedelta(seconds=30)
        assert often["last_worker"] == "w2"
        assert now - datetime.fromisoformat(once["last_seen"]) > timedelta(minutes=9)
        # A heartbeat refreshes known tasks only: new ones come through the task report and its cap.
        assert (await admin.get("/api/v1/tasks/a:never-reported")).status_code == 404

        # Nor does it make the table's names longer (it is bounded by their characters): a longer worker
        # name refreshes the sighting and leaves the shorter name in place.
        await _age_sightings(live, database_url)
        longer = report("w2-with-a-longer-name", 0, running=["a:often"])
        assert (await reader.post(WORKER_REPORT_PATH, json=longer)).status_code == 200
        often = (await admin.get("/api/v1/tasks/a:often")).json()
        assert datetime.now(UTC) - datetime.fromisoformat(often["last_seen"]) < timedelta(seconds=30)
        assert often["last_worker"] == "w2"


async def test_reports_are_rate_limited_per_token_before_the_body_is_read(start: Start) -> None:
    # 0.1 units a second: the refusals below come well within the 10 s wait, however busy the machine.
    live = start(worker_report_rate=0.1, worker_report_burst=11)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        # 1,000 running action_ids cost ten units, the report one: the whole burst.
        full = report("w1", 0, running=[f"a:task-{index:04d}" for index in range(1000)])
        assert (await reader.post(WORKER_REPORT_PATH, json=full)).status_code == 200
        refused = await reader.post(WORKER_REPORT_PATH, json=report("w2", 0))
        assert refused.status_code == 429, refused.text
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 10
        # Told to wait, the token is refused before its body is read: even a malformed one gets 429.
        malformed = await reader.post(
            WORKER_REPORT_PATH, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 429
        assert "w2" not in by_name(await workers(admin))
        # Another token has its own budget.
        assert (await admin.post(WORKER_REPORT_PATH, json=report("w3", 0))).status_code == 200


async def test_new_workers_stop_at_the_cap_and_known_ones_still_report(start: Start) -> None:
    live = start(max_workers=2)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        for name in ("w1", "w2"):
            assert (await reader.post(WORKER_REPORT_PATH, json=report(name, 0))).json() == {"recorded": True}
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w3", 0))).json() == {"recorded": False}
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w1", 4))).json() == {"recorded": True}
        items = by_name(await workers(admin))
        assert sorted(items) == ["w1", "w2"]
        assert items["w1"]["revision"] == 4
        assert "hatchet_trace_flags_workers_ignored_total 1.0" in (await admin.get("/metrics")).text


async def test_workers_that_stop_reporting_are_forgotten_after_the_retention_period(start: Start) -> None:
    live = start(worker_retention_seconds=0.5, retention_sweep_seconds=0.05)
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        assert (await reader.post(WORKER_REPORT_PATH, json=report("w-gone", 0))).status_code == 200
        assert "w-gone" in by_name(await workers(admin))

        async def forgotten() -> bool:
            return "w-gone" not in by_name(await workers(admin))

        await until(forgotten, what="the retention sweep forgot w-gone")


async def test_reach_says_how_many_workers_apply_a_change_and_how_fast(live: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN)) as reader,
        httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin,
    ):
        for name in ("w1", "w2"):
            assert (await reader.post(WORKER_REPORT_PATH, json=report(name, 0))).status_code == 200
        revision = await change(admin)
        await reader.post(WORKER_REPORT_PATH, json=report("w1", revision))

        partial = (await admin.get(f"{WORKERS_PATH}/reach", params={"revision": revision})).json()
        assert (partial["workers"], partial["reached"], partial["complete"]) == (2, 1, False)
        assert partial["pending"] == ["w2"]
        assert partial["text"].startswith(f"Rev {revision}: 1/2 workers after ")

        await reader.post(WORKER_REPORT_PATH, json=report("w2", revision))
        done = (await admin.get(f"{WORKERS_PATH}/reach", params={"revision": revision})).json()
        assert (done["reached"], done["complete"], done["pending"]) == (2, True, [])
        assert 0 <= done["seconds"] < 30
        assert done["text"] == f"Rev {revision} reached 2/2 workers in {done['seconds']:.1f} s."
        assert (await admin.get(f"{WORKERS_PATH}/reach", params={"revision": "x"})).status_code == 422

"""Issue 23: the task list with thousands of patterns. Filtering and sorting by effective mode answer
200 with exactly the tasks the contract's ``RuleSet`` decides (they answered 503 after seconds: the
mode was a SQL CASE over every pattern, evaluated for every discovered task)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hatchet_trace_flags import RuleSet

pytestmark = pytest.mark.timeout(180)

# Half the documented limit, prefixes and suffixes of every length class the index walks.
PREFIXES = {f"svc-{index:04d}:*": "link" if index % 3 == 0 else "parent" for index in range(2500)}
SUFFIXES = {f"*:job-{index:04d}": "link" if index % 2 else "parent" for index in range(2490)}
TASKS = {f"svc-{index:04d}:job-{index:04d}": "link" for index in range(0, 400, 40)}
SEEN = [f"svc-{index * 7:04d}:job-{index * 3:04d}" for index in range(400)] + [
    f"other-{index}:job-{index:04d}" for index in range(100)
]
RULES = RuleSet(default="parent", tasks=TASKS, patterns={**PREFIXES, **SUFFIXES})

QUERIES: list[dict[str, Any]] = [
    {"mode": "link"},
    {"mode": "parent"},
    {"sort": "mode"},
    {"sort": "mode", "order": "desc"},
    {"mode": "link", "sort": "seen"},
    {"mode": "parent", "sort": "changed", "order": "desc"},
    {"mode": "link", "configured": "false"},
]


@pytest.fixture
async def loaded(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    imported = await client.post("/api/v1/import", content=RULES.dumps())
    assert imported.status_code == 200, imported.text
    report = await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": SEEN})
    assert report.status_code == 200, report.text
    items = (await client.get("/api/v1/tasks", params={"limit": 1000})).json()["items"]
    return {item["action_id"]: item for item in items}


@pytest.mark.parametrize(
    "params", QUERIES, ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items())
)
async def test_mode_filters_and_sorts_answer_what_the_rule_set_decides(
    client: httpx.AsyncClient, loaded: dict[str, dict[str, Any]], params: dict[str, Any]
) -> None:
    assert set(loaded) == set(SEEN) | set(TASKS)
    page = await client.get("/api/v1/tasks", params={**params, "limit": 1000})
    assert page.status_code == 200, page.text
    listed = [item["action_id"] for item in page.json()["items"]]
    wanted = [
        action_id
        for action_id in loaded
        if params.get("mode") in (None, RULES.evaluate(action_id).mode)
        and (params.get("configured") != "false" or action_id not in TASKS)
    ]
    if params.get("sort") == "mode":
        wanted.sort(key=lambda action_id: (RULES.evaluate(action_id).mode, action_id))
        if params.get("order") == "desc":
            wanted.reverse()
        assert listed == wanted
    else:
        assert sorted(listed) == sorted(wanted)
    assert page.json()["total"] == len(wanted)

"""The task list in SQL: every filter, sort and page agrees with the rule set evaluated in Python."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hatchet_trace_flags_server.store.task_list.statements import COUNT_LIMIT

from hatchet_trace_flags import RuleSet

pytestmark = pytest.mark.timeout(120)

# Equally long prefix and suffix literals that disagree ("abc*" / "*xyz"): parent wins.
PATTERNS = {"a*": "parent", "ab*": "link", "abc*": "link", "*z": "link", "*yz": "parent", "*xyz": "parent"}
CONFIGURED = {"abq:one": "parent", "zz:exact": "link", "never:reported": "link", "m:cleared": "link"}
SEEN = ["abcxyz", "abq:one", "ab:two", "a:three", "q:yz", "q:z", "q:xyz", "m:cleared", "zz:exact", "b:plain"]
_EPOCH = datetime.min.replace(tzinfo=UTC)


async def _everything(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    items = (await client.get("/api/v1/tasks", params={"limit": 1000})).json()["items"]
    return {item["action_id"]: item for item in items}


def _when(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else _EPOCH


@pytest.fixture
async def filled(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    for pattern, mode in PATTERNS.items():
        assert (await client.put(f"/api/v1/patterns/{pattern}", json={"mode": mode})).status_code == 200
    for action_id, mode in CONFIGURED.items():
        assert (await client.put(f"/api/v1/tasks/{action_id}", json={"mode": mode})).status_code == 200
    await client.delete("/api/v1/tasks/m:cleared")  # a cleared rule, still reported
    await reader.post("/api/v1/tasks/seen", json={"worker": "w1", "action_ids": SEEN[:5]})
    await reader.post("/api/v1/tasks/seen", json={"worker": "w2", "action_ids": SEEN[5:]})
    return await _everything(client)


async def test_effective_modes_match_the_rule_set(client: httpx.AsyncClient, filled: dict[str, Any]) -> None:
    rules = RuleSet(patterns=PATTERNS, tasks={k: v for k, v in CONFIGURED.items() if k != "m:cleared"})
    assert set(filled) == set(SEEN) | {"never:reported"}
    for action_id, item in filled.items():
        assert item["effective_mode"] == rules.evaluate(action_id).mode, action_id
    for mode in ("link", "parent"):
        page = (await client.get("/api/v1/tasks", params={"mode": mode})).json()
        expected = sorted(a for a in filled if rules.evaluate(a).mode == mode)
        assert [item["action_id"] for item in page["items"]] == expected
        assert (page["total"], page["total_exact"]) == (len(expected), True)


@pytest.mark.parametrize("sort", ["name", "mode", "seen", "changed"])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_every_sort_and_page_matches_python(
    client: httpx.AsyncClient, filled: dict[str, dict[str, Any]], sort: str, order: str
) -> None:
    def key(item: dict[str, Any]) -> tuple[Any, ...]:
        value: Any = {
            "name": "",
            "mode": item["effective_mode"],
            "seen": _when(item["last_seen"]),
            "changed": _when(item["updated_at"]),
        }[sort]
        return (value, item["action_id"])

    expected = [item["action_id"] for item in sorted(filled.values(), key=key, reverse=order == "desc")]
    listed: list[str] = []
    for offset in range(0, len(expected), 3):
        page = await client.get(
            "/api/v1/tasks", params={"sort": sort, "order": order, "limit": 3, "offset": offset}
        )
        assert page.status_code == 200, page.text
        listed += [item["action_id"] for item in page.json()["items"]]
    assert listed == expected
    for configured in ("true", "false"):
        page = (
            await client.get("/api/v1/tasks", params={"sort": sort, "order": order, "configured": configured})
        ).json()
        wanted = [a for a in expected if (filled[a]["mode"] is not None) == (configured == "true")]
        assert [item["action_id"] for item in page["items"]] == wanted


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_keyset_pages_walk_the_whole_list(
    client: httpx.AsyncClient, filled: dict[str, dict[str, Any]], order: str
) -> None:
    listed: list[str] = []
    params: dict[str, Any] = {"limit": 4, "order": order, "q": "A"}
    while True:
        page = (await client.get("/api/v1/tasks", params=params)).json()
        listed += [item["action_id"] for item in page["items"]]
        if page["next_after"] is None:
            break
        params["after"] = page["next_after"]
    expected = sorted((a for a in filled if "a" in a.lower()), reverse=order == "desc")
    assert listed == expected


async def test_after_needs_name_order_and_no_offset(client: httpx.AsyncClient) -> None:
    for params in ({"after": "a", "sort": "seen"}, {"after": "a", "offset": 1}, {"after": "nul\x00"}):
        assert (await client.get("/api/v1/tasks", params=params)).status_code == 422, params


async def test_kill_switch_makes_every_task_parent(client: httpx.AsyncClient, filled: dict[str, Any]) -> None:
    await client.patch("/api/v1/settings", json={"links_enabled": False})
    assert (await client.get("/api/v1/tasks", params={"mode": "link"})).json()["total"] == 0
    parents = (await client.get("/api/v1/tasks", params={"mode": "parent"})).json()
    assert parents["total"] == len(filled)


async def test_counts_stop_at_the_limit(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    ids = [f"bulk:task-{index:05d}" for index in range(COUNT_LIMIT + 1)]
    for start in range(0, len(ids), 1000):
        report = await reader.post(
            "/api/v1/tasks/seen", json={"worker": "w", "action_ids": ids[start : start + 1000]}
        )
        assert report.status_code == 200, report.text
    page = (await client.get("/api/v1/tasks", params={"limit": 1})).json()
    assert (page["total"], page["total_exact"]) == (COUNT_LIMIT, False)
    exact = (await client.get("/api/v1/tasks", params={"q": "task-0000"})).json()
    assert (exact["total"], exact["total_exact"]) == (10, True)

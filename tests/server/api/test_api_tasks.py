"""Tasks: per-task modes, the list of configured and seen tasks, validation."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


async def test_set_task_changes_effective_mode_and_records_who(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/v1/tasks/prod_fanout-worker:process-item", json={"mode": "link", "note": "fan-out"}
    )
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["action_id"] == "prod_fanout-worker:process-item"
    assert (task["mode"], task["effective_mode"], task["reason"]) == ("link", "link", "exact")
    assert task["rule"] == "prod_fanout-worker:process-item"
    assert (task["note"], task["updated_by"], task["version"]) == ("fan-out", "alice", 1)
    assert response.headers["etag"] == '"1"'

    snapshot = (await client.get("/api/v1/snapshot")).json()
    assert snapshot["tasks"] == {"prod_fanout-worker:process-item": "link"}


async def test_clear_task_falls_back_to_pattern_then_default(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/patterns/fanout-worker:*", json={"mode": "link"})
    await client.put("/api/v1/tasks/fanout-worker:a", json={"mode": "parent"})
    task = (await client.get("/api/v1/tasks/fanout-worker:a")).json()
    assert (task["effective_mode"], task["reason"]) == ("parent", "exact")

    cleared = await client.delete("/api/v1/tasks/fanout-worker:a", params={"note": "done"})
    assert cleared.status_code == 200, cleared.text
    task = cleared.json()
    assert task["mode"] is None
    assert (task["effective_mode"], task["reason"], task["rule"]) == ("link", "pattern", "fanout-worker:*")
    assert task["version"] == 2  # a cleared rule keeps counting, so old ETags stay stale

    await client.delete("/api/v1/patterns/fanout-worker:*")
    task = (await client.get("/api/v1/tasks/fanout-worker:a")).json()
    assert (task["effective_mode"], task["reason"], task["rule"]) == ("parent", "default", None)


async def test_clear_unconfigured_task_is_404_and_changes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/tasks/never:configured")
    assert response.status_code == 404
    assert "no mode is configured" in response.json()["detail"]
    assert (await client.get("/api/v1/snapshot")).headers["x-rules-revision"] == "0"


async def test_same_put_twice_is_not_a_change(client: httpx.AsyncClient) -> None:
    first = await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    second = await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    assert first.json()["version"] == second.json()["version"] == 1
    audit = (await client.get("/api/v1/audit")).json()["items"]
    assert len(audit) == 1


async def test_action_ids_with_slashes_and_percent_round_trip(client: httpx.AsyncClient) -> None:
    action_id = "ns/with%odd?chars#:task"
    path = "/api/v1/tasks/" + quote(action_id, safe=":/")
    response = await client.put(path, json={"mode": "link"})
    assert response.status_code == 200, response.text
    assert response.json()["action_id"] == action_id
    assert (await client.get("/api/v1/snapshot")).json()["tasks"] == {action_id: "link"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/tasks/has space:x", {"mode": "link"}, "action_id"),
        ("/api/v1/tasks/star*:x", {"mode": "link"}, "action_id"),
        ("/api/v1/tasks/" + "x" * 256, {"mode": "link"}, "action_id"),
        ("/api/v1/tasks/a:b", {"mode": "lnk"}, None),
        ("/api/v1/tasks/a:b", {"mode": "link", "extra": 1}, None),
        ("/api/v1/tasks/a:b", {"mode": "link", "note": "x" * 1001}, None),
        ("/api/v1/tasks/a:b", {"mode": "link", "note": "nul\x00byte"}, None),
        ("/api/v1/tasks/a:b", ["link"], None),
    ],
)
async def test_invalid_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, path: str, body: object, field: str | None
) -> None:
    response = await client.put(path, json=body)
    assert response.status_code == 422, response.text
    if field is not None:
        assert response.json()["field"] == field
    assert (await client.get("/api/v1/snapshot")).headers["x-rules-revision"] == "0"
    assert (await client.get("/api/v1/audit")).json()["items"] == []


async def test_malformed_json_body_is_4xx(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/v1/tasks/a:b", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_seen_tasks_are_listed_without_configuration(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await client.put("/api/v1/patterns/prod_*", json={"mode": "link"})
    report = await reader.post(
        "/api/v1/tasks/seen",
        json={"worker": "worker-1", "action_ids": ["prod_a:one", "dev_b:two", "prod_a:one"]},
    )
    assert report.status_code == 200, report.text
    assert report.json() == {"recorded": 2}

    page = (await client.get("/api/v1/tasks")).json()
    assert page["total"] == 2
    by_id = {item["action_id"]: item for item in page["items"]}
    assert by_id["prod_a:one"]["mode"] is None
    assert (by_id["prod_a:one"]["effective_mode"], by_id["prod_a:one"]["rule"]) == ("link", "prod_*")
    assert by_id["dev_b:two"]["effective_mode"] == "parent"
    assert by_id["dev_b:two"]["last_worker"] == "worker-1"
    assert by_id["dev_b:two"]["last_seen"] is not None
    assert by_id["dev_b:two"]["version"] == 0


async def test_seen_report_with_one_bad_action_id_records_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    report = await reader.post(
        "/api/v1/tasks/seen", json={"worker": "w", "action_ids": ["ok:task", "bad task"]}
    )
    assert report.status_code == 422
    assert report.json()["field"] == "action_ids[1]"
    assert (await client.get("/api/v1/tasks")).json()["total"] == 0


async def test_list_search_filter_and_paginate(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    await client.put("/api/v1/patterns/*:send-email", json={"mode": "link"})
    for name in ("a:send-email", "b:send-email", "c:resize"):
        await client.put(
            f"/api/v1/tasks/{name}", json={"mode": "parent" if name == "b:send-email" else "link"}
        )
    await reader.post(
        "/api/v1/tasks/seen", json={"worker": "w", "action_ids": ["d:send-email", "e:Other_100%"]}
    )

    everything = (await client.get("/api/v1/tasks")).json()
    assert [item["action_id"] for item in everything["items"]] == [
        "a:send-email",
        "b:send-email",
        "c:resize",
        "d:send-email",
        "e:Other_100%",
    ]
    search = (await client.get("/api/v1/tasks", params={"q": "SEND"})).json()
    assert search["total"] == 3
    # LIKE wildcards in the search text are literal characters.
    assert [
        i["action_id"] for i in (await client.get("/api/v1/tasks", params={"q": "_100%"})).json()["items"]
    ] == ["e:Other_100%"]
    assert (await client.get("/api/v1/tasks", params={"q": "a_send"})).json()["total"] == 0

    links = (await client.get("/api/v1/tasks", params={"mode": "link"})).json()
    assert [item["action_id"] for item in links["items"]] == ["a:send-email", "c:resize", "d:send-email"]
    unconfigured = (await client.get("/api/v1/tasks", params={"configured": "false"})).json()
    assert [item["action_id"] for item in unconfigured["items"]] == ["d:send-email", "e:Other_100%"]

    page = (await client.get("/api/v1/tasks", params={"limit": 2, "offset": 2})).json()
    assert [item["action_id"] for item in page["items"]] == ["c:resize", "d:send-email"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 100000}, {"offset": -1}, {"q": "a\x00b"}, {"mode": "x"}]
)
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, params: dict[str, object]) -> None:
    assert (await client.get("/api/v1/tasks", params=params)).status_code == 422


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/tasks/nobody:knows")).status_code == 404


async def test_patterns_crud_and_validation(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/patterns/fanout-*", json={"mode": "link", "note": "all fan-out"})
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1
    assert created.headers["etag"] == '"1"'
    listing = (await client.get("/api/v1/patterns")).json()
    assert [(p["pattern"], p["mode"], p["note"]) for p in listing["items"]] == [
        ("fanout-*", "link", "all fan-out")
    ]
    assert (await client.get("/api/v1/patterns", params={"mode": "parent"})).json()["total"] == 0

    for bad in ("*", "no-star", "a*b", "**x", "*x*"):
        response = await client.put(f"/api/v1/patterns/{bad}", json={"mode": "link"})
        assert response.status_code == 422, bad
        assert response.json()["field"] == "pattern"

    assert (await client.delete("/api/v1/patterns/fanout-*")).json()["mode"] is None
    assert (await client.get("/api/v1/patterns")).json()["total"] == 0
    assert (await client.delete("/api/v1/patterns/fanout-*")).status_code == 404


async def test_a_name_that_mixes_scripts_is_marked_in_the_list(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    real, fake = "fanout-worker:process-item", "fanout-w\u043erker:process-item"  # Cyrillic o
    assert (
        await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": [real, fake]})
    ).status_code == 200
    items = {item["action_id"]: item for item in (await client.get("/api/v1/tasks")).json()["items"]}
    assert items[real]["look_alike"] is None
    assert "mixes scripts (Cyrillic, Latin)" in items[fake]["look_alike"]
    assert "Cyrillic" in (await client.get(f"/api/v1/tasks/{fake}")).json()["look_alike"]


async def test_a_whole_script_look_alike_of_a_known_task_is_marked(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    """All Cyrillic, so it mixes nothing, yet it renders exactly like pay:coco once that task exists."""
    fake = "\u0440\u0430\u0443:\u0441\u043e\u0441\u043e"
    await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": [fake]})
    alone = {item["action_id"]: item for item in (await client.get("/api/v1/tasks")).json()["items"]}
    assert alone[fake]["look_alike"] is None  # a Russian name of its own
    assert (await client.put("/api/v1/tasks/pay:coco", json={"mode": "link"})).status_code == 200
    items = {item["action_id"]: item for item in (await client.get("/api/v1/tasks")).json()["items"]}
    assert items[fake]["look_alike"].startswith("renders like pay:coco, another task")
    assert items["pay:coco"]["look_alike"] is None

"""Optimistic concurrency: If-Match per resource, no lost updates under concurrent writers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytestmark = pytest.mark.timeout(90)


async def test_concurrent_writers_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    etag = created.headers["etag"]
    responses = await asyncio.gather(
        *(
            client.put(
                "/api/v1/tasks/a:b",
                json={"mode": "parent" if index % 2 else "link", "note": f"writer {index}"},
                headers={"If-Match": etag},
            )
            for index in range(8)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 7
    winner = next(response for response in responses if response.status_code == 200)
    losers = [response for response in responses if response.status_code == 412]
    assert all(loser.headers["etag"] == winner.headers["etag"] == '"2"' for loser in losers)
    assert "changed since you read it" in losers[0].json()["detail"]
    task = (await client.get("/api/v1/tasks/a:b")).json()
    assert task["note"] == winner.json()["note"]
    assert len((await client.get("/api/v1/audit", params={"key": "a:b"})).json()["items"]) == 2


async def test_if_match_is_per_resource(client: httpx.AsyncClient) -> None:
    task_a = await client.put("/api/v1/tasks/a:a", json={"mode": "link"})
    await client.put("/api/v1/tasks/b:b", json={"mode": "link"})
    await client.patch("/api/v1/settings", json={"default": "link"})
    await client.put("/api/v1/patterns/c*", json={"mode": "link"})
    # Others changed: a:a's own version did not, so its ETag still holds.
    response = await client.put(
        "/api/v1/tasks/a:a", json={"mode": "parent"}, headers={"If-Match": task_a.headers["etag"]}
    )
    assert response.status_code == 200


async def test_if_match_star_and_create_only(client: httpx.AsyncClient) -> None:
    # "*" means "must already be configured".
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "link"}, headers={"If-Match": "*"})
    ).status_code == 412
    # "0" (the version of a task never configured) means "create only".
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "link"}, headers={"If-Match": '"0"'})
    ).status_code == 200
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "parent"}, headers={"If-Match": '"0"'})
    ).status_code == 412
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "parent"}, headers={"If-Match": "*"})
    ).status_code == 200
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "link"}, headers={"If-Match": 'W/"2"'})
    ).status_code == 412
    assert (
        await client.put("/api/v1/tasks/n:new", json={"mode": "link"}, headers={"If-Match": '"2'})
    ).status_code == 400
    stale_settings = await client.patch(
        "/api/v1/settings", json={"default": "link"}, headers={"If-Match": '"7"'}
    )
    assert stale_settings.status_code == 412
    assert stale_settings.headers["etag"] == '"0"'


async def test_read_modify_write_loops_lose_no_update(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/counter:task", json={"mode": "link", "note": "0"})
    writers, increments = 4, 5

    async def increment_repeatedly() -> int:
        conflicts = 0
        for _ in range(increments):
            while True:
                current = await client.get("/api/v1/tasks/counter:task")
                note = str(int(current.json()["note"]) + 1)
                response = await client.put(
                    "/api/v1/tasks/counter:task",
                    json={"mode": "link", "note": note},
                    headers={"If-Match": current.headers["etag"]},
                )
                if response.status_code == 200:
                    break
                assert response.status_code == 412
                conflicts += 1
        return conflicts

    await asyncio.gather(*(increment_repeatedly() for _ in range(writers)))
    task = (await client.get("/api/v1/tasks/counter:task")).json()
    assert task["note"] == str(writers * increments)
    assert task["version"] == 1 + writers * increments

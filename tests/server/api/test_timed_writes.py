"""Time-boxed writes through the API: ``until`` on tasks, patterns and the kill switch, shown on reads,
refused with 422 when bad, cancelled by a later write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.waiting import until as until_

pytestmark = pytest.mark.timeout(60)


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_a_timed_task_write_shows_until_and_what_it_reverts_to(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "parent"})
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    written = await client.put(
        "/api/v1/tasks/a:b", json={"mode": "link", "until": until.astimezone().isoformat()}
    )
    assert written.status_code == 200, written.text
    body = written.json()
    assert (body["mode"], body["reverts_to"]) == ("link", "parent")
    assert body["until"] == until.isoformat().replace("+00:00", "Z")
    read = (await client.get("/api/v1/tasks/a:b")).json()
    assert (read["until"], read["reverts_to"]) == (body["until"], "parent")
    listed = (await client.get("/api/v1/tasks")).json()["items"]
    assert [(item["action_id"], item["until"], item["reverts_to"]) for item in listed] == [
        ("a:b", body["until"], "parent")
    ]
    # Extending the timed episode keeps what it returns to.
    extended = await client.put("/api/v1/tasks/a:b", json={"mode": "link", "until": _in(hours=2)})
    assert extended.json()["reverts_to"] == "parent"


async def test_a_later_write_without_until_cancels_the_revert(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "link", "until": _in(hours=1)})
    assert (await client.get("/api/v1/snapshot")).json()["version"] == 1  # an old worker's view
    timed = await client.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"})
    assert timed.json()["expiries"]["tasks"]["a:b"]["reverts_to"] is None
    again = await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    assert again.status_code == 200
    assert (again.json()["until"], again.json()["reverts_to"]) == (None, None)
    plain = await client.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"})
    assert "expiries" not in plain.json()


async def test_a_timed_pattern_and_kill_switch(client: httpx.AsyncClient) -> None:
    pattern = await client.put("/api/v1/patterns/x:*", json={"mode": "link", "until": _in(minutes=30)})
    assert pattern.status_code == 200, pattern.text
    assert pattern.json()["until"] is not None
    assert pattern.json()["reverts_to"] is None
    listed = (await client.get("/api/v1/patterns")).json()["items"]
    assert listed[0]["until"] == pattern.json()["until"]

    switch = await client.patch("/api/v1/settings", json={"links_enabled": False, "until": _in(minutes=30)})
    assert switch.status_code == 200, switch.text
    assert (switch.json()["links_enabled"], switch.json()["reverts_to"]) == (False, True)
    settings = (await client.get("/api/v1/settings")).json()
    assert settings["until"] == switch.json()["until"]
    # Changing the default alone keeps the kill switch's expiry; setting the switch cancels it.
    kept = await client.patch("/api/v1/settings", json={"default": "link"})
    assert kept.json()["until"] == switch.json()["until"]
    cancelled = await client.patch("/api/v1/settings", json={"links_enabled": False})
    assert (cancelled.json()["until"], cancelled.json()["reverts_to"]) == (None, None)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/tasks/a:b", {"mode": "link", "until": "tomorrow"}),
        ("/api/v1/tasks/a:b", {"mode": "link", "until": "2099-01-01T00:00:00"}),  # no offset
        ("/api/v1/tasks/a:b", {"mode": "link", "until": "2020-01-01T00:00:00Z"}),  # past
        ("/api/v1/tasks/a:b", {"mode": "link", "until": "2099-01-01T00:00:00Z"}),  # too far ahead
        ("/api/v1/tasks/a:b", {"mode": "link", "until": 1893456000}),
        ("/api/v1/patterns/x:*", {"mode": "link", "until": "2020-01-01T00:00:00+02:00"}),
        ("/api/v1/settings", {"default": "parent", "links_enabled": False, "until": "2099-01-01T00:00:00Z"}),
    ],
)
async def test_bad_until_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    before = await client.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"})
    method = client.put
    refused = await method(path, json=body)
    assert refused.status_code == 422, refused.text
    after = await client.get("/api/v1/snapshot", headers={"X-Rules-Document-Version": "2"})
    assert after.headers["etag"] == before.headers["etag"]
    assert after.headers["x-rules-revision"] == before.headers["x-rules-revision"]


async def test_until_on_settings_needs_the_kill_switch(client: httpx.AsyncClient) -> None:
    refused = await client.patch("/api/v1/settings", json={"default": "link", "until": _in(hours=1)})
    assert refused.status_code == 422
    assert "links_enabled" in refused.text


async def test_the_ofrep_etag_and_the_export_follow_until(client: httpx.AsyncClient) -> None:
    until = datetime.now(UTC) + timedelta(seconds=3)
    await client.put("/api/v1/tasks/a:b", json={"mode": "link", "until": until.isoformat()})
    bulk = {"context": {"targetingKey": "a:b"}}
    first = await client.post("/ofrep/v1/evaluate/flags", json=bulk)
    assert first.json()["flags"][0]["variant"] == "link"
    exported = (await client.get("/api/v1/export")).json()
    assert exported["expiries"]["tasks"]["a:b"]["until"] == until.isoformat().replace("+00:00", "Z")
    flagd = (await client.get("/api/v1/export", params={"format": "flagd"})).json()
    assert "$flagd.timestamp" in str(flagd)

    async def reverted() -> bool:
        answer = await client.post(
            "/ofrep/v1/evaluate/flags", json=bulk, headers={"If-None-Match": first.headers["etag"]}
        )
        return answer.status_code == 200 and answer.json()["flags"][0]["variant"] == "parent"

    await until_(reverted, what="OFREP answers parent with a new ETag")
    assert datetime.now(UTC) >= until

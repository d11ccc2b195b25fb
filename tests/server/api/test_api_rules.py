"""Settings, the snapshot workers poll, export, import, and the audit log."""

from __future__ import annotations

import httpx
import pytest
from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext

from hatchet_trace_flags.contract import RuleSet
from tests.support.server.live import SECOND_ADMIN_TOKEN

pytestmark = pytest.mark.timeout(60)


async def test_settings_default_and_kill_switch(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    settings = await client.get("/api/v1/settings")
    assert settings.json()["default"] == "parent"
    assert settings.json()["links_enabled"] is True
    assert settings.headers["etag"] == '"0"'

    changed = await client.patch("/api/v1/settings", json={"links_enabled": False, "note": "incident 42"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["links_enabled"] is False
    assert changed.json()["version"] == 1
    assert changed.json()["updated_by"] == "alice"
    task = (await client.get("/api/v1/tasks/a:b")).json()
    assert (task["mode"], task["effective_mode"], task["reason"]) == ("link", "parent", "disabled")

    replaced = await client.put("/api/v1/settings", json={"default": "link", "links_enabled": True})
    assert replaced.status_code == 200
    snapshot = (await client.get("/api/v1/snapshot")).json()
    assert (snapshot["default"], snapshot["links_enabled"]) == ("link", True)


async def test_settings_put_needs_both_fields(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/v1/settings", json={"default": "link"})).status_code == 422
    assert (await client.patch("/api/v1/settings", json={"links_enabled": 1})).status_code == 422


async def test_snapshot_is_the_rules_document_with_etag_and_revision(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    empty = await reader.get("/api/v1/snapshot")
    assert empty.status_code == 200
    assert empty.json() == RuleSet().to_document()
    assert empty.headers["x-rules-revision"] == "0"

    await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    await client.put("/api/v1/patterns/x*", json={"mode": "parent"})
    response = await reader.get("/api/v1/snapshot")
    expected = RuleSet(tasks={"a:b": "link"}, patterns={"x*": "parent"})
    assert response.content == expected.dumps().encode()
    assert response.headers["x-rules-revision"] == "2"
    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert etag != empty.headers["etag"]

    not_modified = await reader.get("/api/v1/snapshot", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    listed = await reader.get("/api/v1/snapshot", headers={"If-None-Match": f'"nope", W/{etag}'})
    assert listed.status_code == 304
    stale = await reader.get("/api/v1/snapshot", headers={"If-None-Match": empty.headers["etag"]})
    assert stale.status_code == 200
    assert (
        await reader.get("/api/v1/snapshot", headers={"If-None-Match": '"unterminated'})
    ).status_code == 400


async def test_export_native_round_trips_and_flagd_agrees(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/fanout:special", json={"mode": "parent"})
    await client.put("/api/v1/patterns/fanout:*", json={"mode": "link"})
    await client.put("/api/v1/patterns/*:send-email", json={"mode": "link"})
    native = await client.get("/api/v1/export")
    assert native.status_code == 200
    assert "attachment" in native.headers["content-disposition"]
    rules = RuleSet.loads(native.content)

    flagd = await client.get("/api/v1/export", params={"format": "flagd"})
    core = FlagdCore()
    core.set_flags(flagd.text)
    for action_id in ("fanout:special", "fanout:other", "billing:send-email", "billing:charge"):
        resolved = core.resolve_boolean_value(
            "hatchet.use-links-instead-of-parent", False, ctx=EvaluationContext(targeting_key=action_id)
        )
        assert resolved.value is rules.evaluate(action_id).use_links, action_id
    assert (await client.get("/api/v1/export", params={"format": "yaml"})).status_code == 422


async def test_import_replaces_everything_atomically(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/old:task", json={"mode": "link"})
    document = {
        "version": 1,
        "default": "link",
        "links_enabled": True,
        "tasks": {"new:task": "parent"},
        "patterns": {"new:*": "link"},
    }
    response = await client.post("/api/v1/import", json=document, params={"note": "from git"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["changed"] is True
    assert result["revision"] == 2
    snapshot = await client.get("/api/v1/snapshot")
    assert snapshot.json() == RuleSet.from_document(document).to_document()
    assert snapshot.headers["etag"] == result["etag"]
    old = (await client.get("/api/v1/tasks/old:task")).json()
    assert old["mode"] is None
    assert old["version"] == 2

    again = (await client.post("/api/v1/import", json=document)).json()
    assert again == {"changed": False, "revision": 2, "etag": result["etag"]}

    event = (await client.get("/api/v1/audit", params={"kind": "import"})).json()["items"][0]
    assert event["before"]["tasks"] == {"old:task": "link"}
    assert event["after"] == RuleSet.from_document(document).to_document()
    assert event["source"] == "import"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": 1, "tasks": {"ok:task": "link", "bad task": "link"}}, "tasks['bad task']"),
        ({"version": 1, "patterns": {"*": "link"}}, "patterns['*']"),
        ({"version": 3}, "version"),
        (
            {
                "version": 2,
                "tasks": {"a:b": "link"},
                "expiries": {"tasks": {"a:b": {"until": "2099-01-01T00:00:00Z", "reverts_to": None}}},
            },
            "expiries",
        ),
        ({"version": 1, "links_enabled": 1}, "links_enabled"),
        ({"version": 1, "surprise": True}, "surprise"),
        ([], "(document)"),
    ],
)
async def test_bad_import_changes_nothing(client: httpx.AsyncClient, body: object, field: str) -> None:
    await client.put("/api/v1/tasks/keep:me", json={"mode": "link"})
    before = await client.get("/api/v1/snapshot")
    response = await client.post("/api/v1/import", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    after = await client.get("/api/v1/snapshot")
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]


async def test_import_of_non_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/import", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_import_honours_if_match_on_the_rule_set_etag(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/api/v1/snapshot")).headers["etag"]
    await client.put("/api/v1/tasks/someone:else", json={"mode": "link"})
    stale = await client.post("/api/v1/import", json={"version": 1}, headers={"If-Match": etag})
    assert stale.status_code == 412
    current = (await client.get("/api/v1/snapshot")).headers["etag"]
    assert stale.headers["etag"] == current
    fresh = await client.post("/api/v1/import", json={"version": 1}, headers={"If-Match": current})
    assert fresh.status_code == 200


async def test_audit_log_filters_and_pages(client: httpx.AsyncClient) -> None:
    bob = {"Authorization": f"Bearer {SECOND_ADMIN_TOKEN}", "X-Change-Source": "dashboard"}
    await client.put("/api/v1/tasks/a:one", json={"mode": "link", "note": "first"})
    await client.put("/api/v1/tasks/a:one", json={"mode": "parent"}, headers=bob)
    await client.put("/api/v1/patterns/a:*", json={"mode": "link"})
    await client.patch("/api/v1/settings", json={"default": "link"})

    everything = (await client.get("/api/v1/audit")).json()
    assert [item["revision"] for item in everything["items"]] == [4, 3, 2, 1]
    first = everything["items"][-1]
    assert (first["actor"], first["source"], first["kind"], first["key"]) == ("alice", "api", "task", "a:one")
    assert first["before"] == {"mode": None, "note": None, "version": 0}
    assert first["after"] == {"mode": "link", "note": "first", "version": 1}
    second = everything["items"][-2]
    assert (second["actor"], second["source"]) == ("bob", "dashboard")
    assert second["before"]["mode"] == "link"

    assert [
        i["revision"] for i in (await client.get("/api/v1/audit", params={"actor": "bob"})).json()["items"]
    ] == [2]
    assert [
        i["revision"] for i in (await client.get("/api/v1/audit", params={"key": "a:one"})).json()["items"]
    ] == [2, 1]
    assert [
        i["kind"] for i in (await client.get("/api/v1/audit", params={"kind": "settings"})).json()["items"]
    ] == ["settings"]
    page = (await client.get("/api/v1/audit", params={"limit": 3})).json()
    assert page["next_before"] == 2
    rest = (await client.get("/api/v1/audit", params={"limit": 3, "before": page["next_before"]})).json()
    assert [i["revision"] for i in rest["items"]] == [1]
    assert rest["next_before"] is None
    since = first["at"]
    assert len((await client.get("/api/v1/audit", params={"since": since})).json()["items"]) == 4
    assert (await client.get("/api/v1/audit", params={"until": since})).json()["items"] == []
    assert (
        await client.get("/api/v1/audit", params={"since": "0001-01-01T00:00:00+14:00"})
    ).status_code == 422

"""Every name Hatchet can produce reaches its own task on every route (issue 27, section 2).

Hatchet names a task ``{workflow}:{task}``, either part free text: a worker can report
``wf:victim/insights/dismissal``. The path is percent-decoded before routing, so ``%2F`` cannot tell a
``/`` in a name from a path separator: a name must be the last thing in every path.
"""

from __future__ import annotations

import httpx
import pytest
from hatchet_trace_flags_server.cli.client import key_path

from tests.support.server.insight_reports import CHILD, fan_out_report

pytestmark = pytest.mark.timeout(60)

AWKWARD_NAMES = [
    f"{CHILD}/insights",
    f"{CHILD}/insights/dismissal",
    "wf:a?b#c&d=e",
    "wf:100%2F",
    "wf:a/",
    "/wf:a",
    "wf:a//b",
    "wf:a/../b",
    "wf:..",
    "..",
    ".",
    "wf:ünï/çødé",
    "wf:+;,$!'()",
]


async def _recommended(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    answer = await reader.post("/api/v1/tasks/insights", json=fan_out_report("host-a/1"))
    assert answer.status_code == 200, answer.text
    insight = (await client.get(key_path("insights", CHILD))).json()
    assert insight["recommendation"]["dismissed"] is False


async def test_a_task_named_like_another_route_is_that_task(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await _recommended(client, reader)
    # Before the fix this answered CHILD's insight with 200.
    absent = await client.get(f"/api/v1/tasks/{CHILD}/insights")
    assert absent.status_code == 404, absent.text

    for name in AWKWARD_NAMES:
        paths = {key_path("tasks", name)}
        if not any(segment.strip(".") == "" and segment for segment in name.split("/")):
            paths.add(key_path("tasks", name).replace("%2F", "/"))  # "/" sent as is works too
        for path in paths:
            put = await client.put(path, json={"mode": "link"})
            assert put.status_code == 200, (name, path, put.text)
            assert (put.json()["action_id"], put.json()["mode"]) == (name, "link")
            got = await client.get(path)
            assert got.json()["action_id"] == name, (name, path, got.text)
            cleared = await client.delete(path)
            assert (cleared.json()["action_id"], cleared.json()["mode"]) == (name, None), cleared.text

    # None of those writes reached CHILD's insight or its dismissal.
    insight = (await client.get(key_path("insights", CHILD))).json()
    assert insight["recommendation"]["dismissed"] is False
    rules = (await client.get("/api/v1/snapshot")).json()
    assert rules["tasks"] == {}


async def test_insight_routes_take_any_name(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    await _recommended(client, reader)
    for name in AWKWARD_NAMES:
        missing = await client.get(key_path("insights", name))
        assert missing.status_code == 404, (name, missing.text)
        assert missing.json()["detail"] == f"no fan-out numbers for {name!r} in the window"
    dismissed = await client.put(key_path("insight-dismissals", CHILD))
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["recommendation"]["dismissed"] is True
    restored = await client.delete(key_path("insight-dismissals", CHILD))
    assert restored.json()["recommendation"]["dismissed"] is False


async def test_a_name_hatchet_cannot_produce_is_one_clear_422(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/tasks/", "/api/v1/insights/", "/api/v1/tasks/wf:a%20b", "/api/v1/insights/wf:a*"):
        refused = await client.get(path)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"

"""Fan-out insight: workers' reports added up per task across workers, children joined to their
spawner, and the link recommendation (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.services.insights import DELAY_FACTOR, MIN_CHILDREN_PER_RUN, build_insights

from hatchet_trace_flags._admin.insights import insights_payload
from hatchet_trace_flags._fanout.stats import FanoutStats
from hatchet_trace_flags.contract import RuleSet
from tests.support.server.insight_reports import (
    CHILD,
    SPAWNER,
    SPAWNER_TRACE,
    fan_out_report,
    latest_child_trace,
)
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth

pytestmark = pytest.mark.timeout(60)

INSIGHTS = "/api/v1/tasks/insights"


async def test_two_workers_add_up_and_the_fan_out_gets_a_link_recommendation(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    for worker in ("host-a/1", "host-b/2"):
        answer = await reader.post(INSIGHTS, json=fan_out_report(worker))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"recorded": 2}

    insight = (await client.get(f"/api/v1/insights/{CHILD}")).json()
    assert insight["effective_mode"] == "parent"
    assert insight["child"]["runs"] == 1200  # 2 workers x 3 runs x 200
    assert insight["child"]["start_delay_seconds"]["max"] == pytest.approx(4.2)
    # Interpolated inside doubling buckets: the true p50 and p95 are 2.1 s and 3.99 s.
    assert insight["child"]["start_delay_seconds"]["p50"] == pytest.approx(2.1, rel=0.01)
    assert insight["child"]["start_delay_seconds"]["p95"] == pytest.approx(3.99, rel=0.01)
    assert insight["spawned_by"] == [{"action_id": SPAWNER, "children": 1200}]
    spawner = (await client.get(f"/api/v1/insights/{SPAWNER}")).json()["spawner"]
    assert spawner["runs"] == 6
    assert spawner["children_per_run"] == {"p50": 200.0, "p95": 200.0, "max": 200.0}
    assert spawner["duration_seconds"]["p50"] == pytest.approx(0.06)
    assert insight["trace_open"]["link_seconds"] == pytest.approx(0.06)
    assert insight["trace_open"]["parent_seconds"] == pytest.approx(0.06 + 3.99 + 0.01, rel=0.01)
    assert insight["recommendation"] == {
        "mode": "link",
        "reason": (
            "link recommended: \N{MULTIPLICATION SIGN}200 children per run, "
            "started up to 4.2 s after a 60 ms spawner"
        ),
        "dismissed": False,
    }

    listed = (await client.get("/api/v1/insights", params={"recommended": "true"})).json()
    assert [item["action_id"] for item in listed["items"]] == [CHILD]
    assert listed["window_seconds"] == 900.0


@pytest.mark.parametrize(
    ("shape", "why"),
    [
        ({"children": MIN_CHILDREN_PER_RUN - 1}, "too few children per run"),
        ({"max_delay": 0.05}, "children start at once"),
        ({"spawner_seconds": 4.2 / DELAY_FACTOR * 1.5}, "the spawner itself takes as long"),
        ({"runs": 1}, "one spawning run is not a pattern"),
    ],
)
async def test_no_recommendation_when_the_numbers_do_not_say_so(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, shape: dict[str, Any], why: str
) -> None:
    assert (await reader.post(INSIGHTS, json=fan_out_report("w", **shape))).status_code == 200
    insight = (await client.get(f"/api/v1/insights/{CHILD}")).json()
    assert insight["child"]["runs"] > 0
    assert insight["recommendation"] is None, why


async def test_a_task_in_link_mode_gets_no_recommendation(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await reader.post(INSIGHTS, json=fan_out_report("w", runs=3))
    assert (await client.put(f"/api/v1/tasks/{CHILD}", json={"mode": "link"})).status_code == 200
    insight = (await client.get(f"/api/v1/insights/{CHILD}")).json()
    assert (insight["effective_mode"], insight["recommendation"]) == ("link", None)


async def test_dismissed_stays_dismissed_until_undone(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await reader.post(INSIGHTS, json=fan_out_report("w"))
    dismissed = await client.put(f"/api/v1/insight-dismissals/{CHILD}")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["recommendation"]["dismissed"] is True
    # More numbers do not bring it back.
    await reader.post(INSIGHTS, json=fan_out_report("w"))
    assert (await client.get(f"/api/v1/insights/{CHILD}")).json()["recommendation"]["dismissed"]
    listed = (await client.get("/api/v1/insights", params={"recommended": "true"})).json()
    assert listed["items"] == []

    undone = await client.delete(f"/api/v1/insight-dismissals/{CHILD}")
    assert undone.json()["recommendation"]["dismissed"] is False
    nothing = await client.put(f"/api/v1/insight-dismissals/{SPAWNER}")
    assert nothing.status_code == 409


async def test_forgetting_a_task_forgets_its_numbers(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await reader.post(INSIGHTS, json=fan_out_report("w"))
    answer = await client.post("/api/v1/tasks/forget", json={"action_ids": [CHILD]})
    assert answer.status_code == 200
    missing = await client.get(f"/api/v1/insights/{CHILD}")
    assert missing.status_code == 404
    assert "no fan-out numbers" in missing.json()["detail"]


async def test_new_tasks_past_the_cap_are_ignored_known_ones_still_add_up(
    live_factory: Any, make_settings: SettingsFactory
) -> None:
    live: LiveServer = live_factory(make_settings(max_insight_tasks=1))
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        report = fan_out_report("w")
        first = await http.post(INSIGHTS, json=report, headers=auth(READ_TOKEN))
        assert first.json() == {"recorded": 1, "ignored": 1}
        again = await http.post(INSIGHTS, json=report, headers=auth(READ_TOKEN))
        assert again.json() == {"recorded": 1, "ignored": 1}
        listed = (await http.get("/api/v1/insights", headers=auth(ADMIN_TOKEN))).json()
        assert len(listed["items"]) == 1


async def test_a_full_report_fits_the_default_body_limit(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # 100 tasks (a worker's most per request), each both spawner and child, every bucket used.
    stats = FanoutStats()
    for number in range(100):
        action_id = f"{'x' * 200}:task-{number}"
        for bucket in range(32):
            stats.child_started(action_id, 1e-4 * 2.0**bucket, link=True, clamped=False)
        for workflow in range(33):
            stats.run_ended(action_id, 1.0, was_child=True, children={f"{'w' * 200}{workflow}": 2**20})
    tasks, _ = stats.take()
    body = insights_payload("w" * 255, tasks, start=0.0, end=1.0)
    # Worst case ~0.8 MB (long names everywhere): under the default max_body_bytes of 1 MiB.
    assert len(json.dumps(body)) < 1024 * 1024
    answer = await reader.post(INSIGHTS, json=body)
    assert answer.json() == {"recorded": 100}
    assert len((await client.get("/api/v1/insights")).json()["items"]) == 100


def _broken(change: str) -> dict[str, Any]:
    body = copy.deepcopy(fan_out_report("w"))
    child = next(task for task in body["tasks"] if "child" in task)["child"]
    if change == "schema":
        body["schema"] = 2
    elif change == "bounds":
        body["bounds"]["seconds"][3] *= 1.5
    elif change == "buckets":
        child["start_delay"]["buckets"][0] += 1
    elif change == "bucket count":
        child["start_delay"]["buckets"].append(0)
    elif change == "negative":
        child["runs"] = -1
    elif change == "nan":
        child["duration"]["sum"] = float("nan")
    elif change == "too many tasks":
        body["tasks"] = [{"action_id": f"w:t{i}"} for i in range(101)]
    elif change == "action_id":
        body["tasks"][0]["action_id"] = "bad\x00id"
    elif change == "not a list":
        body["tasks"] = {"a": 1}
    return body


@pytest.mark.parametrize(
    "change",
    ["schema", "bounds", "buckets", "bucket count", "negative", "too many tasks", "action_id", "not a list"],
)
async def test_bad_reports_are_422_and_record_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, change: str
) -> None:
    answer = await reader.post(INSIGHTS, json=_broken(change))
    assert answer.status_code == 422, answer.text
    assert (await client.get("/api/v1/insights")).json()["items"] == []


async def test_not_json_and_unauthenticated(live: LiveServer, reader: httpx.AsyncClient) -> None:
    nan = await reader.post(
        INSIGHTS, content=b'{"schema": 1, "x": NaN', headers={"content-type": "application/json"}
    )
    assert nan.status_code == 422
    async with httpx.AsyncClient(base_url=live.url) as anonymous:
        assert (await anonymous.post(INSIGHTS, json=fan_out_report("w"))).status_code == 401
    # Reading insights takes an admin token, like the task list.
    assert (await reader.get("/api/v1/insights")).status_code == 403


def test_children_join_their_spawner_by_workflow_name_with_or_without_namespace() -> None:
    stats = FanoutStats()
    child = "prod_fanout-worker:process-item"
    stats.child_started(child, 1.0, link=False, clamped=False)
    for spawner, workflow in [
        ("prod_api:import", "prod_fanout-worker"),  # named with the namespace, as the client applies it
        ("prod_api:backfill", "Fanout-Worker"),  # without it, in another case
        ("prod_api:other", "worker"),  # a mere suffix is another workflow
        ("prod_api:elsewhere", "fanout-worker-2"),
    ]:
        stats.run_ended(spawner, 0.05, was_child=False, children={workflow: 3})
    summaries, _ = stats.take()
    [insight] = [
        item for item in build_insights(summaries, RuleSet(), {}, 900.0) if item.out.action_id == child
    ]
    assert [(by.action_id, by.children) for by in insight.out.spawned_by] == [
        ("prod_api:backfill", 3),
        ("prod_api:import", 3),
    ]


async def test_two_replicas_on_one_database_add_up_concurrent_reports(
    live_factory: Any, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    replicas: list[LiveServer] = [live_factory(settings), live_factory(settings)]
    reports = 12
    async with httpx.AsyncClient(timeout=30, headers=auth(READ_TOKEN)) as http:
        # One request to each first: FastAPI builds a route's models on its first request, and two
        # servers in one process (threads) building the same pydantic schema at once can race. One
        # service per process in production never does.
        for replica in replicas:
            assert (
                await http.post(f"{replica.url}{INSIGHTS}", json=fan_out_report("warm-up"))
            ).status_code == 200
        answers = await asyncio.gather(
            *(
                http.post(f"{replicas[n % 2].url}{INSIGHTS}", json=fan_out_report(f"w{n}"))
                for n in range(reports)
            )
        )
        assert [answer.status_code for answer in answers] == [200] * reports
        for replica in replicas:
            insight = (
                await http.get(f"{replica.url}/api/v1/insights/{CHILD}", headers=auth(ADMIN_TOKEN))
            ).json()
            assert insight["child"]["runs"] == (reports + 2) * 3 * 200
            assert insight["spawned_by"] == [{"action_id": SPAWNER, "children": (reports + 2) * 3 * 200}]


async def test_exemplars_are_kept_bounded_linked_and_bad_ones_dropped_and_counted(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    live = live_factory(
        make_settings(trace_url_template="https://grafana.example.com/explore?traceId={trace_id}")
    )
    report = fan_out_report("host-a/1", traces=True)
    broken = copy.deepcopy(fan_out_report("host-b/2", traces=True))
    by_id = {task["action_id"]: task for task in broken["tasks"]}
    by_id[CHILD]["child"]["exemplar"]["trace_id"] = "F" * 32  # not lowercase
    by_id[SPAWNER]["spawner"]["exemplar"] = {"trace_id": "abc", "seconds": 9.9}  # wrong length
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        answer = await http.post(INSIGHTS, json=report, headers=auth(READ_TOKEN))
        assert answer.json() == {"recorded": 2}
        refused = await http.post(INSIGHTS, json=broken, headers=auth(READ_TOKEN))
        assert refused.status_code == 200, refused.text
        assert refused.json() == {"recorded": 2, "exemplars_refused": 2}  # the numbers still count
        insight = (await http.get(f"/api/v1/insights/{CHILD}", headers=auth(ADMIN_TOKEN))).json()
        metrics = (await http.get("/metrics")).text

    assert insight["child"]["runs"] == 1200
    child_trace, spawner_trace = latest_child_trace(), f"{SPAWNER_TRACE:032x}"
    assert insight["examples"] == {
        "spawner_trace": {
            "trace_id": spawner_trace,
            "seconds": pytest.approx(0.06),
            "url": f"https://grafana.example.com/explore?traceId={spawner_trace}",
        },
        "child_trace": {
            "trace_id": child_trace,
            "seconds": pytest.approx(4.2),
            "url": f"https://grafana.example.com/explore?traceId={child_trace}",
        },
    }
    assert "hatchet_trace_flags_insight_exemplars_refused_total 2.0" in metrics


@pytest.mark.parametrize(
    "template",
    [
        "ftp://traces.example.com/{trace_id}",
        "https://traces.example.com/",
        "/relative/{trace_id}",
        "javascript:{trace_id}",
    ],
)
def test_a_trace_url_template_must_be_http_with_the_placeholder(
    make_settings: SettingsFactory, template: str
) -> None:
    with pytest.raises(ValueError, match="trace_url_template"):
        make_settings(trace_url_template=template)

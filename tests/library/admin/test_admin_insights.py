"""Fan-out insights ride with the task reports: ``POST /api/v1/tasks/insights``, and never hurt a worker.

The stub service answers what each test needs (accept, not known yet, overloaded); one test runs
against the real admin service, which adds the summaries up.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from hatchet_trace_flags._admin.insights import INSIGHTS_PATH, MAX_TASKS_PER_REQUEST, SCHEMA
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._fanout.stats import FanoutStats
from hatchet_trace_flags._wiring import install_provider
from hatchet_trace_flags.contract import CHILDREN_BOUNDS, SECONDS_BOUNDS
from tests.support.flags.admin_service import ProviderFactory, Service
from tests.support.flags.admin_stub import Reply, Request, StubServer, json_reply, rules_reply
from tests.support.waiting import wait_until

FLAG = "hatchet.use-links-instead-of-parent"
SEEN = "/api/v1/tasks/seen"
SPAWNER = "prod_fanout-worker:import"
CHILD = "prod_fanout-worker:process-item"


def evaluate(action_id: str) -> None:
    """A task start asking for its mode: queues ``action_id`` for the next task report."""
    api.get_client(OPENFEATURE_DOMAIN).get_boolean_value(FLAG, False, EvaluationContext(action_id))


def record_fan_out(stats: FanoutStats, children: int = 200) -> None:
    for index in range(children):
        stats.child_started(CHILD, 0.5 + index / 100, link=False, clamped=index == 0)
        stats.run_ended(CHILD, 0.01, was_child=True, children={})
    stats.run_ended(SPAWNER, 0.06, was_child=False, children={"process-item": children})


def serve(stub: StubServer, insights: Any) -> None:
    stub.route("/api/v1/snapshot", lambda request: rules_reply({}, 1))
    stub.route(SEEN, lambda request: json_reply({"recorded": 1}))
    stub.route(INSIGHTS_PATH, insights)


def seen_reports_naming(stub: StubServer, action_id: str) -> int:
    return sum(action_id in request.json()["action_ids"] for request in stub.requests_to(SEEN))  # type: ignore[call-overload, index]


def test_summaries_are_sent_after_the_task_report(
    stub: StubServer, make_provider: ProviderFactory, fanout_stats: FanoutStats
) -> None:
    serve(stub, lambda request: json_reply({"recorded": 2}))
    record_fan_out(fanout_stats)
    install_provider(make_provider(stub.url, stream=False, worker_name="worker-7"), timeout=5)

    wait_until(lambda: stub.requests_to(INSIGHTS_PATH))
    [request] = stub.requests_to(INSIGHTS_PATH)
    body = request.json()
    assert isinstance(body, dict)
    assert request.headers["authorization"].startswith("Bearer ")
    assert body["schema"] == SCHEMA
    assert body["worker"] == "worker-7"
    assert body["window"]["start"] <= body["window"]["end"]
    assert body["bounds"] == {"seconds": list(SECONDS_BOUNDS), "children": list(CHILDREN_BOUNDS)}
    assert body["dropped"] == 0
    tasks = {task["action_id"]: task for task in body["tasks"]}
    assert set(tasks) == {SPAWNER, CHILD}
    child = tasks[CHILD]["child"]
    assert (child["runs"], child["parent"], child["link"], child["clamped"]) == (200, 200, 0, 1)
    assert child["start_delay"]["count"] == 200
    assert child["start_delay"]["min"] == 0.5
    assert child["start_delay"]["max"] == pytest.approx(2.49)
    assert sum(child["start_delay"]["buckets"]) == 200
    assert len(child["start_delay"]["buckets"]) == len(SECONDS_BOUNDS) + 1
    spawner = tasks[SPAWNER]["spawner"]
    assert spawner["runs"] == 1
    assert spawner["by_workflow"] == {"process-item": 200}
    assert (spawner["children"]["count"], spawner["children"]["sum"]) == (1, 200)
    assert spawner["duration"]["sum"] == 0.06
    assert "spawner" not in tasks[CHILD]
    assert "child" not in tasks[SPAWNER]
    assert fanout_stats.take() == ({}, 0)  # delivered: the next report starts from nothing


def test_a_service_that_does_not_know_insights_is_left_alone_for_a_while(
    stub: StubServer,
    make_provider: ProviderFactory,
    fanout_stats: FanoutStats,
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    serve(stub, lambda request: Reply(404, body=b'{"detail": "Not Found"}'))
    record_fan_out(fanout_stats)
    install_provider(make_provider(stub.url, stream=False), timeout=5)
    wait_until(lambda: stub.requests_to(INSIGHTS_PATH))

    # Task reports go on (each would be followed by insights, were they not paused).
    record_fan_out(fanout_stats, children=3)
    for number in range(3):
        evaluate(f"prod_fanout-worker:task-{number}")
        wait_until(lambda number=number: seen_reports_naming(stub, f"prod_fanout-worker:task-{number}"))

    assert len(stub.requests_to(INSIGHTS_PATH)) == 1
    told = [record.getMessage() for record in caplog_info.records if "insights" in record.getMessage()]
    assert len(told) == 1, told
    assert "HTTP 404" in told[0]
    assert told[0].startswith("hatchet-trace-flags: the admin service does not take fan-out insights")
    assert all(
        record.levelno == logging.INFO for record in caplog_info.records if "insights" in record.message
    )
    tasks, _ = fanout_stats.take()  # kept (bounded) for when the service takes them
    assert tasks[CHILD].child is not None
    assert tasks[CHILD].child.runs == 3


def test_summaries_a_busy_service_could_not_take_go_with_the_next_report(
    stub: StubServer, make_provider: ProviderFactory, fanout_stats: FanoutStats
) -> None:
    answers = iter([Reply(503, body=b"busy")])

    def insights(request: Request) -> Reply:
        return next(answers, json_reply({"recorded": 2}))

    serve(stub, insights)
    record_fan_out(fanout_stats, children=5)
    install_provider(make_provider(stub.url, stream=False), timeout=5)
    wait_until(lambda: len(stub.requests_to(INSIGHTS_PATH)) == 1)
    record_fan_out(fanout_stats, children=7)  # recorded while the first attempt was refused

    wait_until(lambda: len(stub.requests_to(INSIGHTS_PATH)) >= 2)
    delivered = stub.requests_to(INSIGHTS_PATH)[1].json()
    assert isinstance(delivered, dict)
    tasks = {task["action_id"]: task for task in delivered["tasks"]}
    assert tasks[CHILD]["child"]["runs"] == 12
    assert tasks[SPAWNER]["spawner"]["by_workflow"] == {"process-item": 12}
    assert tasks[SPAWNER]["spawner"]["runs"] == 2


def test_the_service_adds_up_what_the_worker_sends(
    service: Service,
    make_provider: ProviderFactory,
    fanout_stats: FanoutStats,
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    record_fan_out(fanout_stats)
    provider = make_provider(service.url, worker_name="worker-9")
    install_provider(provider, timeout=5)
    evaluate(CHILD)

    def child_runs() -> int:
        with service.admin() as admin:
            answer = admin.get(f"/api/v1/insights/{CHILD}")
        return int(answer.json()["child"]["runs"]) if answer.status_code == 200 else 0

    wait_until(lambda: child_runs() == 200)
    record_fan_out(fanout_stats, children=3)  # the next delta adds up
    wait_until(lambda: child_runs() == 203)
    with service.admin() as admin:
        spawner = admin.get(f"/api/v1/insights/{SPAWNER}").json()["spawner"]
    assert (spawner["runs"], spawner["by_workflow"]) == (2, {"process-item": 203})
    assert not any("insights" in record.getMessage() for record in caplog_info.records)
    assert provider.state == "live"


def test_many_tasks_are_split_into_requests_of_at_most_100(
    stub: StubServer, make_provider: ProviderFactory, fanout_stats: FanoutStats
) -> None:
    serve(stub, lambda request: json_reply({"recorded": 100}))
    names = [f"prod_fanout-worker:task-{number}" for number in range(MAX_TASKS_PER_REQUEST + 50)]
    for name in names:
        fanout_stats.child_started(name, 1.0, link=True, clamped=False)
    install_provider(make_provider(stub.url, stream=False), timeout=5)

    wait_until(lambda: len(stub.requests_to(INSIGHTS_PATH)) == 2)
    bodies = [request.json() for request in stub.requests_to(INSIGHTS_PATH)]
    sizes = [len(body["tasks"]) for body in bodies]  # type: ignore[call-overload, index]
    assert sizes == [MAX_TASKS_PER_REQUEST, 50]
    sent = [task["action_id"] for body in bodies for task in body["tasks"]]  # type: ignore[call-overload, index]
    assert sorted(sent) == sorted(names)
    assert len({body["window"]["end"] for body in bodies}) == 1  # type: ignore[call-overload, index]

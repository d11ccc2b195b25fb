"""The worker's report of itself (``POST WORKER_REPORT_PATH``) rides with the task reports and never hurts a
worker: its body, "at once" on a new revision, and a service that does not know it (an older version).
The real service's side is in tests/server/services/test_worker_fleet.py."""

from __future__ import annotations

import logging
import threading
from typing import get_args

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from hatchet_trace_flags._admin.options import Source
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider
from hatchet_trace_flags.contract import (
    SEEN_PATH,
    SNAPSHOT_PATH,
    WORKER_REPORT_PATH,
    WORKER_SOURCES,
    WorkerReport,
)
from tests.support.flags.admin_service import ProviderFactory
from tests.support.flags.admin_stub import Reply, Request, StubServer, json_reply, rules_reply
from tests.support.waiting import wait_until

FLAG = "hatchet.use-links-instead-of-parent"


def evaluate(action_id: str) -> None:
    api.get_client(OPENFEATURE_DOMAIN).get_boolean_value(FLAG, False, EvaluationContext(action_id))


def reported(stub: StubServer, action_id: str) -> bool:
    return any(action_id in request.json()["action_ids"] for request in stub.requests_to(SEEN_PATH))  # type: ignore[call-overload, index]


class Revisions:
    """The stub's rules revision, changed by the test."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.lock = threading.Lock()

    def reply(self, _request: Request) -> Reply:
        with self.lock:
            return rules_reply({}, self.revision, store="stubstore")


def test_the_report_says_what_the_worker_applies_and_a_new_revision_goes_at_once(
    stub: StubServer, make_provider: ProviderFactory
) -> None:
    revisions = Revisions(7)
    stub.route(SNAPSHOT_PATH, revisions.reply)
    stub.route(SEEN_PATH, lambda request: json_reply({"recorded": 1}))
    stub.route(WORKER_REPORT_PATH, lambda request: json_reply({"recorded": True}))
    provider = make_provider(stub.url, stream=False, worker_name="worker-7")
    install_provider(provider, timeout=5)

    wait_until(lambda: stub.requests_to(WORKER_REPORT_PATH))
    body = stub.requests_to(WORKER_REPORT_PATH)[0].json()
    assert isinstance(body, dict)
    assert set(body) == set(WorkerReport.__slots__)  # the contract's shape, nothing more
    assert (body["worker"], body["revision"], body["store"], body["source"]) == (
        "worker-7",
        7,
        "stubstore",
        "service",
    )
    assert body["provider"] == "admin-service"
    assert body["streaming"] is False
    assert isinstance(body["applied_at"], float)
    assert body["running"] == []

    # A task already reported runs again: it goes with the next report of the worker, here the one the
    # next revision brings (the heartbeat is 30 s away: only a new revision sends one this soon).
    evaluate("svc:task")
    wait_until(lambda: reported(stub, "svc:task"))
    evaluate("svc:sentinel")
    wait_until(lambda: reported(stub, "svc:sentinel"))  # svc:task's report is confirmed by now
    evaluate("svc:task")
    with revisions.lock:
        revisions.revision = 8
    wait_until(lambda: len(stub.requests_to(WORKER_REPORT_PATH)) == 2)
    second = stub.requests_to(WORKER_REPORT_PATH)[1].json()
    assert isinstance(second, dict)
    assert second["revision"] == 8
    assert second["applied_at"] >= body["applied_at"]
    assert second["running"] == ["svc:task"]
    assert provider.requests["worker"] == 2


def test_a_service_without_worker_reports_is_left_alone_for_a_while(
    stub: StubServer, make_provider: ProviderFactory, caplog_info: pytest.LogCaptureFixture
) -> None:
    revisions = Revisions(1)
    stub.route(SNAPSHOT_PATH, revisions.reply)
    stub.route(SEEN_PATH, lambda request: json_reply({"recorded": 1}))  # no route for worker reports: 404
    provider = make_provider(stub.url, stream=False)
    install_provider(provider, timeout=5)
    wait_until(lambda: stub.requests_to(WORKER_REPORT_PATH))

    # New revisions and task reports go on; no report of the worker is sent again (paused 10 minutes).
    for number in range(3):
        with revisions.lock:
            revisions.revision = 2 + number
        wait_until(lambda number=number: provider.revision == 2 + number)
        evaluate(f"svc:task-{number}")
        wait_until(lambda number=number: reported(stub, f"svc:task-{number}"))

    assert len(stub.requests_to(WORKER_REPORT_PATH)) == 1
    assert provider.state == "live"
    told = [record for record in caplog_info.records if "worker reports" in record.getMessage()]
    assert len(told) == 1, told
    assert told[0].levelno == logging.INFO
    assert "HTTP 404" in told[0].getMessage()


def test_the_sources_a_worker_reports_are_the_contracts() -> None:
    assert set(get_args(Source)) == set(WORKER_SOURCES)

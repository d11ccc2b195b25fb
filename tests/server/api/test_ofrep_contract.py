"""The OFREP endpoints against the protocol's own contract (OFREP 0.3.0, service/openapi.yaml): every
answer kind, on SQLite and PostgreSQL, validated with the spec's schemas rather than our reading of them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth
from tests.support.server.ofrep_contract import OFREP_REASONS, assert_ofrep

pytestmark = pytest.mark.timeout(60)

EVALUATE = f"/ofrep/v1/evaluate/flags/{DEFAULT_FLAG_KEY}"
BULK = "/ofrep/v1/evaluate/flags"


@pytest.fixture
def ofrep(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        assert admin.put("/api/v1/tasks/fanout-worker:special", json={"mode": "parent"}).status_code == 200
        assert admin.put("/api/v1/patterns/fanout-worker:*", json={"mode": "link"}).status_code == 200
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN)) as http:
        yield http


@pytest.mark.parametrize(
    ("action_id", "reason", "decision"),
    [
        pytest.param("fanout-worker:special", "TARGETING_MATCH", "exact", id="exact"),
        pytest.param("fanout-worker:any", "TARGETING_MATCH", "pattern", id="pattern"),
        # OFREP 0.3.0 has no DEFAULT: a value the service configured for every context is STATIC.
        pytest.param("billing:send", "STATIC", "default", id="default"),
    ],
)
def test_evaluations_follow_the_contract(
    ofrep: httpx.Client, action_id: str, reason: str, decision: str
) -> None:
    context = {"context": {"targetingKey": action_id}}
    single = ofrep.post(EVALUATE, json=context)
    assert single.status_code == 200
    assert_ofrep("serverEvaluationSuccess", single.json())
    assert (single.json()["reason"], single.json()["metadata"]["decisionReason"]) == (reason, decision)

    bulk = ofrep.post(BULK, json=context)
    assert bulk.status_code == 200
    assert bulk.headers["etag"]
    assert_ofrep("bulkEvaluationSuccess", bulk.json())
    assert bulk.json()["flags"] == [single.json()]


def test_the_kill_switch_follows_the_contract(live: LiveServer, ofrep: httpx.Client) -> None:
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        assert admin.patch("/api/v1/settings", json={"links_enabled": False}).status_code == 200
    answer = ofrep.post(EVALUATE, json={"context": {"targetingKey": "fanout-worker:any"}})
    assert_ofrep("serverEvaluationSuccess", answer.json())
    assert answer.json()["reason"] == "DISABLED"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="parse-error"),
        pytest.param(b'{"context": 5}', id="context-not-object"),
        pytest.param(b'{"context": {}}', id="targeting-key-missing"),
        pytest.param(b'{"context": {"targetingKey": "has space"}}', id="invalid-action-id"),
    ],
)
def test_refusals_follow_the_contract(ofrep: httpx.Client, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    single = ofrep.post(EVALUATE, content=body, headers=headers)
    assert single.status_code == 400
    assert_ofrep("evaluationFailure", single.json())
    bulk = ofrep.post(BULK, content=body, headers=headers)
    assert bulk.status_code == 400
    assert_ofrep("bulkEvaluationFailure", bulk.json())


def test_an_unknown_flag_follows_the_contract(ofrep: httpx.Client) -> None:
    missing = ofrep.post("/ofrep/v1/evaluate/flags/no-such-flag", json={"context": {"targetingKey": "a:b"}})
    assert missing.status_code == 404
    assert_ofrep("flagNotFound", missing.json())


def test_our_openapi_promises_only_reasons_the_contract_has(ofrep: httpx.Client) -> None:
    schema = ofrep.get("/openapi.json").json()
    answer = schema["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]["200"]
    reasons = answer["content"]["application/json"]["schema"]["properties"]["reason"]["enum"]
    assert set(reasons) <= OFREP_REASONS

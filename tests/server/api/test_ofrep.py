"""OFREP: the official OpenFeature OFREP provider against the live service, and the wire format."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider.no_op_provider import NoOpProvider

from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth

pytestmark = pytest.mark.timeout(60)

EVALUATE = f"/ofrep/v1/evaluate/flags/{DEFAULT_FLAG_KEY}"


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as http:
        yield http


def openfeature_client(live: LiveServer, token: str, domain: str) -> OpenFeatureClient:
    provider = OFREPProvider(live.url, headers_factory=lambda: {"Authorization": f"Bearer {token}"})
    api.set_provider_and_wait(provider, domain=domain)
    return api.get_client(domain=domain)


@pytest.fixture
def flags(live: LiveServer) -> Iterator[OpenFeatureClient]:
    yield openfeature_client(live, READ_TOKEN, "ofrep-test")
    api.set_provider(NoOpProvider(), domain="ofrep-test")


@pytest.fixture
def unauthorised_flags(live: LiveServer) -> Iterator[OpenFeatureClient]:
    yield openfeature_client(live, "wrong-token", "ofrep-test-bad-token")
    api.set_provider(NoOpProvider(), domain="ofrep-test-bad-token")


def evaluate(flags: OpenFeatureClient, action_id: str, *, key: str = DEFAULT_FLAG_KEY, default: bool = False):  # type: ignore[no-untyped-def]
    return flags.get_boolean_details(key, default, EvaluationContext(targeting_key=action_id))


def test_official_provider_sees_exact_pattern_default_and_kill_switch(
    admin: httpx.Client, flags: OpenFeatureClient
) -> None:
    admin.put("/api/v1/patterns/fanout-worker:*", json={"mode": "link"})
    admin.put("/api/v1/tasks/fanout-worker:special", json={"mode": "parent"})

    exact = evaluate(flags, "fanout-worker:special", default=True)
    assert (exact.value, exact.variant, exact.reason, exact.error_code) == (
        False,
        "parent",
        Reason.TARGETING_MATCH,
        None,
    )
    assert exact.flag_metadata["decisionReason"] == "exact"
    assert exact.flag_metadata["rule"] == "fanout-worker:special"

    pattern = evaluate(flags, "fanout-worker:resize")
    assert (pattern.value, pattern.variant, pattern.reason) == (True, "link", Reason.TARGETING_MATCH)
    assert pattern.flag_metadata["rule"] == "fanout-worker:*"

    default = evaluate(flags, "other:task", default=True)
    assert (default.value, default.variant, default.reason, default.error_code) == (
        False,
        "parent",
        Reason.STATIC,  # OFREP 0.3.0 has no DEFAULT: the configured default is a static value
        None,
    )

    admin.patch("/api/v1/settings", json={"default": "link"})
    assert evaluate(flags, "other:task").value is True

    admin.patch("/api/v1/settings", json={"links_enabled": False})
    disabled = evaluate(flags, "fanout-worker:resize", default=True)
    assert (disabled.value, disabled.variant, disabled.reason, disabled.error_code) == (
        False,
        "parent",
        Reason.DISABLED,
        None,
    )
    assert disabled.flag_metadata["revision"] == 4


def test_official_provider_errors(flags: OpenFeatureClient, unauthorised_flags: OpenFeatureClient) -> None:
    unknown = evaluate(flags, "a:b", key="some.other-flag", default=True)
    assert (unknown.value, unknown.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)

    no_key = flags.get_boolean_details(DEFAULT_FLAG_KEY, True, EvaluationContext())
    assert (no_key.value, no_key.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)

    bad_action_id = evaluate(flags, "has space", default=True)
    assert (bad_action_id.value, bad_action_id.error_code) == (True, ErrorCode.INVALID_CONTEXT)

    denied = evaluate(unauthorised_flags, "a:b", default=True)
    assert (denied.value, denied.error_code, denied.reason) == (True, ErrorCode.GENERAL, Reason.ERROR)
    assert "unauthorized" in (denied.error_message or "")


def test_wire_format_of_single_evaluation(live: LiveServer, admin: httpx.Client) -> None:
    admin.put("/api/v1/tasks/a:b", json={"mode": "link"})
    with httpx.Client(base_url=live.url, headers={"X-API-Key": READ_TOKEN}) as http:
        ok = http.post(EVALUATE, json={"context": {"targetingKey": "a:b", "workflow": "w"}})
        assert ok.status_code == 200
        assert ok.json() == {
            "key": DEFAULT_FLAG_KEY,
            "value": True,
            "reason": "TARGETING_MATCH",
            "variant": "link",
            "metadata": {"decisionReason": "exact", "rule": "a:b", "revision": 1},
        }
        cases = [
            (b"{not json", 400, "PARSE_ERROR"),
            (b"[1]", 400, "PARSE_ERROR"),
            (b'{"context": 5}', 400, "INVALID_CONTEXT"),
            (b'{"context": {}}', 400, "TARGETING_KEY_MISSING"),
            (b'{"context": {"targetingKey": 7}}', 400, "INVALID_CONTEXT"),
        ]
        for body, status, code in cases:
            response = http.post(EVALUATE, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == status, body
            assert response.json()["errorCode"] == code
            assert response.json()["key"] == DEFAULT_FLAG_KEY
            assert response.json()["errorDetails"]
        missing = http.post("/ofrep/v1/evaluate/flags/nope", json={"context": {"targetingKey": "a:b"}})
        assert missing.status_code == 404
        assert missing.json() == {
            "key": "nope",
            "errorCode": "FLAG_NOT_FOUND",
            "errorDetails": missing.json()["errorDetails"],
        }
    with httpx.Client(base_url=live.url) as anonymous:
        for headers in ({}, auth("wrong")):
            denied = anonymous.post(EVALUATE, json={"context": {"targetingKey": "a:b"}}, headers=headers)
            assert denied.status_code == 401
            assert denied.content == b""


def test_bulk_etag_covers_rules_and_context(live: LiveServer, admin: httpx.Client) -> None:
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN)) as http:
        first = http.post("/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "a:b"}})
        assert first.status_code == 200
        assert first.json()["flags"][0]["variant"] == "parent"
        etag = first.headers["etag"]
        again = http.post(
            "/ofrep/v1/evaluate/flags",
            json={"context": {"targetingKey": "a:b"}},
            headers={"If-None-Match": etag},
        )
        assert again.status_code == 304
        other_context = http.post(
            "/ofrep/v1/evaluate/flags",
            json={"context": {"targetingKey": "c:d"}},
            headers={"If-None-Match": etag},
        )
        assert other_context.status_code == 200
        assert other_context.headers["etag"] != etag

        admin.put("/api/v1/tasks/a:b", json={"mode": "link"})
        changed = http.post(
            "/ofrep/v1/evaluate/flags",
            json={"context": {"targetingKey": "a:b"}},
            headers={"If-None-Match": etag},
        )
        assert changed.status_code == 200
        assert changed.json()["flags"][0] == {
            "key": DEFAULT_FLAG_KEY,
            "value": True,
            "reason": "TARGETING_MATCH",
            "variant": "link",
            "metadata": {"decisionReason": "exact", "rule": "a:b", "revision": 1},
        }
        missing = http.post("/ofrep/v1/evaluate/flags", json={})
        assert missing.status_code == 400
        assert missing.json()["errorCode"] == "TARGETING_KEY_MISSING"
        configuration = http.get("/ofrep/v1/configuration").json()
        assert configuration["capabilities"]["flagEvaluation"]["supportedTypes"] == ["boolean"]

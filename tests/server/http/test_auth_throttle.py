"""Failed authentication is throttled per client address and overall (issue 12): 429 +
Retry-After on the API, OFREP and the dashboard's sign-in; right tokens from other clients keep
working while someone else floods."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server.dashboard import Browser
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveFactory, SettingsFactory, auth

WRONG = "wrong-token-0123456789abcdefghij"
# Linux routes all of 127.0.0.0/8 to loopback: a second client address on the same machine.
OTHER_CLIENT = "127.0.0.2"


def client(url: str, *, address: str = "127.0.0.1", **kwargs: object) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_a_client_that_keeps_guessing_is_told_to_wait_even_with_a_right_token(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(auth_failures_per_client_burst=5, auth_failures_per_client_rate=0.1))
    with client(live.url) as guesser, client(live.url, address=OTHER_CLIENT) as worker:
        statuses = [guesser.get("/api/v1/tasks", headers=auth(WRONG)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        refused = guesser.get("/api/v1/tasks", headers=auth(WRONG))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        # Blocked before the token is looked at: a right guess would not be recognised either.
        assert guesser.get("/api/v1/tasks", headers=auth(ADMIN_TOKEN)).status_code == 429
        assert (
            guesser.post(
                "/ofrep/v1/evaluate/flags",
                json={"context": {"targetingKey": "a:b"}},
                headers={"X-API-Key": READ_TOKEN},
            ).status_code
            == 429
        )
        # Requests without a token and health checks are not affected; other clients neither.
        assert guesser.get("/healthz").status_code == 200
        assert worker.get("/api/v1/snapshot", headers=auth(READ_TOKEN)).status_code == 200
        assert worker.get("/api/v1/tasks", headers=auth(WRONG)).status_code == 401


def test_a_flood_from_many_addresses_hits_the_overall_budget_but_right_tokens_pass(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(auth_failures_burst=6, auth_failures_rate=0.1))
    with client(live.url) as first, client(live.url, address=OTHER_CLIENT) as second:
        assert [first.get("/api/v1/tasks", headers=auth(WRONG)).status_code for _ in range(6)] == [401] * 6
        flooded = second.get("/api/v1/tasks", headers=auth(WRONG))
        assert flooded.status_code == 429
        assert "retry-after" in flooded.headers
        assert second.get("/api/v1/tasks", headers=auth(ADMIN_TOKEN)).status_code == 200
        assert first.get("/api/v1/snapshot", headers=auth(READ_TOKEN)).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
def test_failed_sign_ins_are_throttled(live_factory: LiveFactory, make_settings: SettingsFactory) -> None:
    live = live_factory(make_settings(auth_failures_per_client_burst=3, auth_failures_per_client_rate=0.1))
    with Browser(base_url=live.url, timeout=10) as browser:
        assert [browser.sign_in(WRONG).status_code for _ in range(3)] == [401] * 3
        refused = browser.sign_in(WRONG)
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert browser.sign_in(ADMIN_TOKEN).status_code == 429
    with Browser(
        base_url=live.url, timeout=10, transport=httpx.HTTPTransport(local_address=OTHER_CLIENT)
    ) as other:
        assert other.sign_in(ADMIN_TOKEN).status_code == 303

"""FlagPredicate through the official OFREP provider against the live service: remote, so asked off-thread."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider

from hatchet_trace_flags import FlagPredicate
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ofrep(live: LiveServer) -> Iterator[None]:
    provider = OFREPProvider(live.url, headers_factory=lambda: {"Authorization": f"Bearer {READ_TOKEN}"})
    api.set_provider_and_wait(provider, OPENFEATURE_DOMAIN)
    yield
    api.clear_providers()


def test_first_decisions_and_prefetch_through_the_official_ofrep_provider(
    live: LiveServer, ofrep: None
) -> None:
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        admin.put("/api/v1/patterns/fanout-worker:*", json={"mode": "link"}).raise_for_status()
        admin.put("/api/v1/tasks/fanout-worker:collect", json={"mode": "parent"}).raise_for_status()

    # A loopback OFREP request takes about a millisecond; the budget is generous for a loaded CI machine.
    with FlagPredicate(first_decision_budget=5.0) as predicate:
        assert predicate("fanout-worker:process-item") is True
        assert predicate("fanout-worker:collect") is False
        assert predicate("billing:charge") is False

    with FlagPredicate(first_decision_budget=0) as predicate:
        assert predicate.prefetch(["fanout-worker:resize", "billing:charge"], timeout=5.0) == 2
        assert predicate.cached("fanout-worker:resize") is True
        assert predicate("fanout-worker:resize") is True
        assert predicate("billing:charge") is False

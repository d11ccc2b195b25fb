"""The snapshot poll, the service's hottest route (every worker, every few seconds): it costs about
what ``/healthz`` does (issue 23). Its throughput is measured in ``python -m benchmarks server``; here,
what keeps it cheap and what it must still do."""

from __future__ import annotations

import httpx
from hatchet_trace_flags_server import create_app
from hatchet_trace_flags_server.api.snapshot import router

from hatchet_trace_flags.contract import SNAPSHOT_PATH
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth


def test_the_poll_solves_no_fastapi_dependency() -> None:
    # Each one costs some 25 us of CPU per request: ReadIdentity's four cost a 304 more than the rest
    # of its work (4,788 -> 3,914 polls/s). The route authenticates with a plain call instead.
    (route,) = router.routes
    assert route.dependant.dependencies == []  # type: ignore[attr-defined]


def test_the_poll_still_documents_both_token_schemes(make_settings: SettingsFactory) -> None:
    document = create_app(make_settings()).openapi()
    assert document["paths"][SNAPSHOT_PATH]["get"]["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert set(document["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}


def test_a_poll_authenticates_like_every_read_route(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as http:
        etag = http.get(SNAPSHOT_PATH, headers=auth(ADMIN_TOKEN)).headers["etag"]
        for headers in (auth(READ_TOKEN), {"X-API-Key": READ_TOKEN}, auth(ADMIN_TOKEN)):
            assert http.get(SNAPSHOT_PATH, headers={**headers, "If-None-Match": etag}).status_code == 304
        for headers in ({}, auth("not-a-token"), {"Authorization": f"Basic {READ_TOKEN}"}, {"X-API-Key": ""}):
            refused = http.get(SNAPSHOT_PATH, headers={**headers, "If-None-Match": etag})
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"] == "Bearer"

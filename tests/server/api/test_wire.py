"""The wire facts that workers use (``hatchet_trace_flags.contract``) are what the service serves: each path a
worker calls is a route of the app, and each header a worker reads is one the service sends."""

from __future__ import annotations

import httpx
from hatchet_trace_flags_server import create_app

from hatchet_trace_flags.contract import (
    EVENTS_PATH,
    INSIGHTS_PATH,
    REVISION_HEADER,
    SEEN_PATH,
    SNAPSHOT_PATH,
    STORE_HEADER,
    WORKER_REPORT_PATH,
    WORKERS_PATH,
)
from tests.support.server.live import ADMIN_TOKEN, LiveServer, SettingsFactory, auth


def test_every_path_a_worker_calls_is_a_route_of_the_service(make_settings: SettingsFactory) -> None:
    # The OpenAPI document lists the operations of every included router, whatever FastAPI's router internals.
    operations = create_app(make_settings()).openapi()["paths"]
    for path, method in [
        (SNAPSHOT_PATH, "get"),
        (EVENTS_PATH, "get"),
        (SEEN_PATH, "post"),
        (INSIGHTS_PATH, "post"),
        (WORKER_REPORT_PATH, "post"),
        (WORKERS_PATH, "get"),
    ]:
        assert method in operations[path]


def test_the_snapshot_carries_the_headers_a_worker_reads(live: LiveServer) -> None:
    response = httpx.get(f"{live.url}{SNAPSHOT_PATH}", headers=auth(ADMIN_TOKEN))
    assert response.status_code == 200
    assert response.headers[REVISION_HEADER].isdigit()
    assert response.headers[STORE_HEADER]

"""Bad input never gets a 5xx, and every API error is one RFC 9457 problem document.

Each payload class here once made the service answer 500 (issue 12): JSON ``NaN``/``Infinity``,
lone surrogates, non-UTF-8 bodies under odd content types, oversized values that the old
validation handler echoed back. All run on one kept-alive connection, which must survive them.
"""

from __future__ import annotations

import httpx
import pytest
from hatchet_trace_flags_server import create_app

from tests.support.server.live import READ_TOKEN, LiveFactory, LiveServer, SettingsFactory, auth

PROBLEM = "application/problem+json"
TASK = "prod_orders:charge"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return dict(body)


BAD_BODIES = [
    pytest.param(
        "PUT", f"/api/v1/tasks/{TASK}", b'{"mode": "link", "note": NaN}', "application/json", id="nan"
    ),
    pytest.param(
        "PUT",
        f"/api/v1/tasks/{TASK}",
        b'{"mode": "link", "note": -Infinity}',
        "application/json",
        id="infinity",
    ),
    pytest.param(
        "PUT",
        f"/api/v1/tasks/{TASK}",
        b'{"mode": "link", "note": "a\\ud800b"}',
        "application/json",
        id="surrogate",
    ),
    pytest.param(
        "PUT",
        f"/api/v1/tasks/{TASK}",
        b'{"mode": "link", "\\udfff": 1}',
        "application/json",
        id="surrogate-key",
    ),
    pytest.param("PUT", f"/api/v1/tasks/{TASK}", b"\xff\xfe\x00mode", "text/plain", id="non-utf8-text"),
    pytest.param("PUT", f"/api/v1/tasks/{TASK}", b"\xc3\x28", "application/json", id="non-utf8-json"),
    pytest.param(
        "PUT", f"/api/v1/tasks/{TASK}", b"\x80\x81", "application/x-www-form-urlencoded", id="non-utf8-form"
    ),
    pytest.param("PATCH", "/api/v1/settings", b'{"default": NaN}', "application/json", id="settings-nan"),
    pytest.param(
        "PUT", "/api/v1/patterns/prod_*", b'{"mode": "\\ud83d"}', "application/json", id="pattern-surrogate"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type"), BAD_BODIES)
async def test_bad_admin_bodies_are_422_problems(
    client: httpx.AsyncClient, method: str, path: str, body: bytes, content_type: str
) -> None:
    response = await client.request(method, path, content=body, headers={"Content-Type": content_type})
    problem = assert_problem(response, 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert errors
    assert all(set(error) == {"field", "message"} for error in errors)
    # Nothing was written.
    assert (await client.get(f"/api/v1/tasks/{TASK}")).status_code == 404


async def test_seen_reports_with_nan_or_surrogates_are_refused_for_a_read_token(
    reader: httpx.AsyncClient,
) -> None:
    for body in (b'{"worker": "w", "action_ids": [NaN]}', b'{"worker": "\\ud800", "action_ids": ["a:b"]}'):
        response = await reader.post(
            "/api/v1/tasks/seen", content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 422)
    counted = await reader.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": ["a:b"]})
    assert counted.status_code == 200


async def test_validation_errors_name_the_field_without_echoing_the_input(client: httpx.AsyncClient) -> None:
    note = "x" * 5_000
    response = await client.put(f"/api/v1/tasks/{TASK}", json={"mode": "link", "note": note})
    problem = assert_problem(response, 422)
    assert "xxxxxxxxxx" not in response.text
    assert problem["field"] == "note"
    assert problem["errors"] == [{"field": "note", "message": problem["errors"][0]["message"]}]  # type: ignore[index]
    bad_query = await client.get("/api/v1/tasks", params={"limit": "0"})
    assert assert_problem(bad_query, 422)["field"] == "query.limit"


# Each refused value carries this marker: it must come back in no answer, whichever check refused it.
LEAK = "leak7marker"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("PUT", f"/api/v1/tasks/{LEAK}*me", {"mode": "link"}, id="star-in-action-id"),
        pytest.param("PUT", f"/api/v1/patterns/{LEAK}", {"mode": "link"}, id="pattern-without-star"),
        pytest.param("PUT", f"/api/v1/patterns/*{LEAK}*", {"mode": "link"}, id="pattern-two-stars"),
        pytest.param("PUT", f"/api/v1/tasks/{TASK}", {"mode": LEAK}, id="mode"),
        pytest.param("PATCH", "/api/v1/settings", {"default": LEAK}, id="default"),
        pytest.param("PATCH", "/api/v1/settings", {"links_enabled": LEAK}, id="links-enabled"),
        pytest.param("POST", "/api/v1/import", {"version": 1, "default": LEAK}, id="import-default"),
        pytest.param("POST", "/api/v1/import", {"version": 1, "tasks": {"a:b": LEAK}}, id="import-mode"),
        pytest.param("POST", "/api/v1/import", {"version": 1, "links_enabled": LEAK}, id="import-switch"),
    ],
)
async def test_a_422_never_echoes_the_refused_value(
    client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await client.request(method, path, json=body)
    problem = assert_problem(response, 422)
    assert LEAK not in str(problem["detail"])
    assert LEAK not in str(problem.get("errors", ""))


async def test_every_error_status_uses_the_same_format(client: httpx.AsyncClient, live: LiveServer) -> None:
    assert_problem(await client.get("/api/v1/tasks/prod_none:task"), 404)
    assert_problem(await client.get("/api/v1/no-such-route"), 404)
    assert_problem(await client.delete("/api/v1/settings"), 405)
    assert_problem(await client.get("/api/v1/snapshot", headers={"If-None-Match": '"unterminated'}), 400)
    await client.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"})
    stale = await client.put(f"/api/v1/tasks/{TASK}", json={"mode": "parent"}, headers={"If-Match": '"7"'})
    assert_problem(stale, 412)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as anonymous:
        assert_problem(await anonymous.get("/api/v1/tasks"), 401)
        assert_problem(await anonymous.get("/api/v1/tasks", headers=auth("not-a-token-at-all")), 401)
    async with httpx.AsyncClient(base_url=live.url, headers=auth(READ_TOKEN), timeout=10) as reader:
        assert_problem(await reader.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}), 403)
    huge = await client.put(
        f"/api/v1/tasks/{TASK}",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(huge, 413)


@pytest.mark.parametrize(
    "body",
    [b'{"context": {"targetingKey": "a:b", "x": NaN}}', b'{"context": {"targetingKey": "\\ud800"}}'],
    ids=["nan", "surrogate"],
)
async def test_ofrep_refuses_non_json_values_with_its_own_error_format(
    reader: httpx.AsyncClient, body: bytes
) -> None:
    for path in ("/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/hatchet.use-links-instead-of-parent"):
        response = await reader.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["errorCode"] == "PARSE_ERROR"


def test_one_kept_alive_connection_survives_every_bad_request(live: LiveServer) -> None:
    connections: list[object] = []
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN), timeout=10) as http:
        for _ in range(3):
            for body in (b'{"worker": "w", "action_ids": [NaN]}', b"\xff\xfe", b'{"worker": "\\ud800"}'):
                response = http.post("/api/v1/tasks/seen", content=body, headers={"Content-Type": "text/odd"})
                assert response.status_code == 422
                assert response.headers.get("connection") != "close"
                stream = response.extensions["network_stream"]
                connections.append(stream)
    assert len({id(stream) for stream in connections}) == 1


def test_an_unexpected_error_is_a_problem_that_closes_the_connection(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    live = live_factory(settings, app)
    with httpx.Client(base_url=live.url, timeout=10) as http:
        response = http.get("/boom")
        assert_problem(response, 500)
        assert response.headers["connection"] == "close"
        assert "a bug" not in response.text
        assert http.get("/healthz").status_code == 200  # a new connection, no error on the client

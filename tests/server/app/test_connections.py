"""Connection-level settings for production (issue 12): trusted proxies, keep-alive, concurrency
limit, and a redacted access log."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from hatchet_trace_flags_server.http.access_log import redact

from tests.support.server.live import READ_TOKEN, LiveFactory, SettingsFactory, auth

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/snapshot?token=abc123", "/api/v1/snapshot?token=***"),
        ("/x?a=1&access_token=s3&b=2", "/x?a=1&access_token=***&b=2"),
        ("/x?API_KEY=s3#frag", "/x?API_KEY=***#frag"),
        ("/x?q=token", "/x?q=token"),
        ("/plain", "/plain"),
    ],
)
def test_secrets_in_query_strings_are_redacted(path: str, expected: str) -> None:
    assert redact(path) == expected


@SQLITE_ONLY
def test_the_access_log_never_carries_a_token_from_a_query_string(
    live_factory: LiveFactory, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    live = live_factory(make_settings(log_level="info"), access_log=True)
    secret = "in-the-query-0123456789abcdefghij"
    httpx.get(f"{live.url}/api/v1/snapshot", params={"token": secret}, headers=auth(READ_TOKEN))
    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any("/api/v1/snapshot?token=***" in line for line in lines), lines
    assert secret not in caplog.text


@SQLITE_ONLY
def test_idle_kept_alive_connections_are_closed(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(keep_alive_seconds=0.5))
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(4096)
        assert received.startswith(b"HTTP/1.1 200")
        # Nothing more is sent: the server closes the idle connection (recv returns b"").
        connection.settimeout(5)
        while chunk := connection.recv(4096):
            received += chunk
        assert not chunk


@SQLITE_ONLY
def test_only_trusted_proxies_make_the_cookie_secure(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    behind_proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    trusted = live_factory(make_settings(forwarded_allow_ips="127.0.0.1"))
    untrusted = live_factory(make_settings(forwarded_allow_ips="10.0.0.1"))
    cookies = {}
    for name, live in (("trusted", trusted), ("untrusted", untrusted)):
        form = httpx.get(f"{live.url}/sign-in", headers=behind_proxy)
        cookies[name] = form.headers["set-cookie"]
    assert "secure" in cookies["trusted"].lower()
    assert "secure" not in cookies["untrusted"].lower()

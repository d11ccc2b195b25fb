"""Tokens, scopes and request limits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server import Settings, create_app
from hatchet_trace_flags_server.core.tokens import TokenConfigError, TokenRegistry, parse_token_list
from hatchet_trace_flags_server.http.app_state import state_of

from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, SettingsFactory, auth

pytestmark = pytest.mark.timeout(60)

SHARED = "shared-0123456789abcdefghijklmn"


def test_token_lists_from_env_and_files(tmp_path: Path) -> None:
    admin_file = tmp_path / "admin"
    admin_file.write_text(
        "# rotated 2025-01\ncarol:c-token-0123456789abcdefghijklmn\n\n"
        "dave:d-token-0123456789abcdefghijklmn, erin:e:token:with:colons-0123456789abcdefghijklmn\n"
    )
    read_file = tmp_path / "read"
    read_file.write_text("bot:b-token-0123456789abcdefghijklmn")
    registry = TokenRegistry.from_sources(
        admin_tokens="alice:s3cret-0123456789abcdefghijklmn, deploy-bot:t0ken-0123456789abcdefghijklmn",
        read_tokens="worker:r-0123456789abcdefghijklmn",
        admin_tokens_file=admin_file,
        read_tokens_file=read_file,
    )
    assert registry.identify("s3cret-0123456789abcdefghijklmn") is not None
    assert [
        registry.identify(token)
        for token in (
            "s3cret-0123456789abcdefghijklmn",
            "t0ken-0123456789abcdefghijklmn",
            "c-token-0123456789abcdefghijklmn",
            "e:token:with:colons-0123456789abcdefghijklmn",
        )
    ] == [
        registry.identify("s3cret-0123456789abcdefghijklmn"),
        registry.identify("t0ken-0123456789abcdefghijklmn"),
        registry.identify("c-token-0123456789abcdefghijklmn"),
        registry.identify("e:token:with:colons-0123456789abcdefghijklmn"),
    ]
    identity = registry.identify("e:token:with:colons-0123456789abcdefghijklmn")
    assert identity is not None
    assert (identity.name, identity.scope) == ("erin", "admin")
    bot = registry.identify("b-token-0123456789abcdefghijklmn")
    assert bot is not None
    assert (bot.name, bot.scope) == ("bot", "read")
    assert registry.identify("s3cret-0123456789abcdefghijklm") is None
    assert registry.identify("") is None
    assert registry.has_admin


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "expected name:token"),
        ("alice:", "expected name:token"),
        (":secret", "token name ''"),
        ("bad name:secret", "token name 'bad name'"),
        ("alice:has space", "printable characters without spaces"),
        ("alice:s3cret", "6 characters; tokens need at least 24"),
        ("alice:" + "x" * 23, "23 characters; tokens need at least 24"),
    ],
)
def test_malformed_token_lists_are_rejected_without_echoing_secrets(text: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message) as raised:
        parse_token_list(text, origin="ADMIN_TOKENS")
    secret = text.partition(":")[2]
    if secret and "name" not in message:
        assert secret not in str(raised.value)


def test_one_token_in_two_scopes_is_a_configuration_error() -> None:
    with pytest.raises(TokenConfigError, match="same token"):
        TokenRegistry.from_sources(admin_tokens=f"a:{SHARED}", read_tokens=f"b:{SHARED}")


def test_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="cannot read token file"):
        TokenRegistry.from_sources(admin_tokens_file=tmp_path / "absent")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_PORT", "9999")
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_ADMIN_TOKENS", f"alice:{SHARED}")
    settings = Settings()
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 9999, "debug")
    assert (settings.max_body_bytes, settings.heartbeat_seconds) == (1024 * 1024, 15.0)
    assert settings.sqlalchemy_url().render_as_string() == f"sqlite+aiosqlite:///{tmp_path}/flags.db"
    # Flags passed in code (the CLI's --port) win over the environment.
    assert Settings(port=8081).port == 8081


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@db/flags", "postgresql+asyncpg://u@db/flags"),
        ("postgres://u:p@db:5433/flags", "postgresql+asyncpg://u:***@db:5433/flags"),
        ("sqlite:////var/lib/flags.db", "sqlite+aiosqlite:////var/lib/flags.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(url: str, expected: str) -> None:
    assert Settings(database_url=url).sqlalchemy_url().render_as_string() == expected


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "sqlite:///:memory:", "not a url"])
def test_unsupported_database_urls_are_rejected(url: str) -> None:
    from hatchet_trace_flags_server.core.settings import DatabaseURLError

    with pytest.raises(DatabaseURLError, match="DATABASE_URL"):
        Settings(database_url=url).sqlalchemy_url()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tasks", None),
        ("PUT", "/api/v1/tasks/a:b", {"mode": "link"}),
        ("DELETE", "/api/v1/tasks/a:b", None),
        ("GET", "/api/v1/patterns", None),
        ("PATCH", "/api/v1/settings", {"default": "link"}),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/export", None),
        ("POST", "/api/v1/import", {"version": 1}),
    ],
)
async def test_admin_routes_need_an_admin_token(
    live: LiveServer, method: str, path: str, body: object
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        missing = await http.request(method, path, json=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.request(method, path, json=body, headers=auth("not-a-token"))
        assert wrong.status_code == 401
        read_only = await http.request(method, path, json=body, headers=auth(READ_TOKEN))
        assert read_only.status_code == 403
        assert "read scope" in read_only.json()["detail"]
        basic = await http.request(method, path, json=body, headers={"Authorization": "Basic YTpi"})
        assert basic.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/snapshot", None),
        ("POST", "/api/v1/tasks/seen", {"worker": "w", "action_ids": ["a:b"]}),
        (
            "POST",
            "/ofrep/v1/evaluate/flags/hatchet.use-links-instead-of-parent",
            {"context": {"targetingKey": "a:b"}},
        ),
        ("POST", "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "a:b"}}),
    ],
)
async def test_read_routes_take_read_or_admin_tokens(
    live: LiveServer, method: str, path: str, body: object
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.request(method, path, json=body)).status_code == 401
        for token in (READ_TOKEN, ADMIN_TOKEN):
            response = await http.request(method, path, json=body, headers=auth(token))
            assert response.status_code == 200, response.text
        api_key = await http.request(method, path, json=body, headers={"X-API-Key": READ_TOKEN})
        assert api_key.status_code == 200


async def test_health_needs_no_token(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200


async def test_generated_admin_token_is_printed_once_and_works(
    live_factory: Callable[[Settings], LiveServer],
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = live_factory(make_settings(admin_tokens=""))
    token = state_of(live.app).generated_admin_token
    assert token
    printed = capsys.readouterr().err
    assert printed.count(token) == 1
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await http.put("/api/v1/tasks/a:b", json={"mode": "link"}, headers=auth(token))
        assert response.status_code == 200
        assert response.json()["updated_by"] == "generated-admin"
        assert (await http.get("/api/v1/tasks", headers=auth(READ_TOKEN))).status_code == 403


def test_configured_tokens_are_never_logged(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        app = create_app(make_settings())
    assert state_of(app).generated_admin_token is None
    captured = capsys.readouterr()
    for secret in (ADMIN_TOKEN, READ_TOKEN):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err


async def test_oversized_bodies_are_413_and_change_nothing(
    live_factory: Callable[[Settings], LiveServer], make_settings: SettingsFactory
) -> None:
    live = live_factory(make_settings(max_body_bytes=2048))
    async with httpx.AsyncClient(base_url=live.url, headers=auth(ADMIN_TOKEN)) as http:
        big = {"version": 1, "tasks": {f"t:{index:05}": "link" for index in range(200)}}
        declared = await http.post("/api/v1/import", json=big)
        assert declared.status_code == 413

        async def chunked():  # no Content-Length: the limit applies while reading
            for _ in range(10):
                yield b" " * 512

        streamed = await http.put(
            "/api/v1/tasks/a:b", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        small = await http.put("/api/v1/tasks/a:b", json={"mode": "link"})
        assert small.status_code == 200
        assert (await http.get("/api/v1/snapshot")).headers["x-rules-revision"] == "1"

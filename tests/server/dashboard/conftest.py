"""Fixtures for the dashboard: a real server, signed-in HTTP clients that check every response for
leaked tokens, and one headless Chromium (Debian's, driven by Playwright) for the browser tests.

The browser comes from ``scripts/browser-deps``; Playwright cannot download its own here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server import Settings

from tests.server.conftest import (
    ADMIN_TOKEN,
    ADMIN_TOKENS,
    READ_TOKEN,
    READ_TOKENS,
    SECOND_ADMIN_TOKEN,
    LiveServer,
    auth,
)

ALL_TOKENS = (ADMIN_TOKEN, SECOND_ADMIN_TOKEN, READ_TOKEN)
SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"

_NONCE = re.compile(r'name="signin_nonce" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def assert_no_token(text: str, where: str) -> None:
    for token in ALL_TOKENS:
        assert token not in text, f"{where} embeds a token"


def _scan(response: httpx.Response) -> None:
    """httpx response hook: no body or header of the dashboard may carry a token."""
    response.read()
    assert_no_token(response.text, f"{response.request.method} {response.request.url.path}")
    assert_no_token(str(response.headers), f"headers of {response.request.url.path}")


def dashboard_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "admin_tokens": ADMIN_TOKENS,
        "read_tokens": READ_TOKENS,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def dashboard(live_factory: Callable[[Settings], LiveServer], tmp_path: Path) -> LiveServer:
    """A real server on SQLite (the browser tests need one database, not both)."""
    return live_factory(dashboard_settings(tmp_path))


@pytest.fixture
def api(dashboard: LiveServer) -> Iterator[httpx.Client]:
    """The JSON API as alice, with a bearer token (what the CLI does)."""
    with httpx.Client(base_url=dashboard.url, headers=auth(ADMIN_TOKEN), timeout=30) as client:
        yield client


@pytest.fixture
def worker_api(dashboard: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard.url, headers=auth(READ_TOKEN), timeout=30) as client:
        yield client


class Browser(httpx.Client):
    """A cookie-keeping HTTP client that signs in like a person and checks each response for tokens."""

    csrf: str = ""

    def sign_in(self, token: str) -> httpx.Response:
        form = self.get("/sign-in")
        nonce = _NONCE.search(form.text)
        assert nonce is not None, form.text
        response = self.post("/sign-in", data={"token": token, "signin_nonce": nonce.group(1)})
        if response.status_code == 303:
            page = self.get("/")
            assert page.status_code == 200, page.text
            self.csrf = csrf_of(page.text)
        return response

    def htmx(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"HX-Request": "true", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


BrowserFactory = Callable[..., Browser]


@pytest.fixture
def http_browser(dashboard: LiveServer) -> Iterator[BrowserFactory]:
    """``http_browser(token=None)``: a new client, signed in with ``token`` when given."""
    clients: list[Browser] = []

    def make(token: str | None = None, url: str | None = None) -> Browser:
        client = Browser(base_url=url or dashboard.url, timeout=30, event_hooks={"response": [_scan]})
        clients.append(client)
        if token is not None:
            assert client.sign_in(token).status_code == 303
        return client

    yield make
    for client in clients:
        client.close()


def report_seen(worker_api: httpx.Client, action_ids: list[str], worker: str = "worker-1") -> None:
    for start in range(0, len(action_ids), 1000):
        response = worker_api.post(
            "/api/v1/tasks/seen", json={"worker": worker, "action_ids": action_ids[start : start + 1000]}
        )
        assert response.status_code == 200, response.text

"""Fixtures for the dashboard: a real server, signed-in HTTP clients that check every response for
leaked tokens, and one headless Chromium (Debian's, driven by Playwright) for the browser tests, with
``Person`` (one browser context) and the seeded task list they share.

The browser comes from ``scripts/browser-deps``; Playwright cannot download its own here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server import Settings
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Response,
    ViewportSize,
    expect,
)

from tests.support.paths import REPO
from tests.support.server.chromium import chromium
from tests.support.server.live import (
    ADMIN_TOKEN,
    ADMIN_TOKENS,
    READ_TOKEN,
    READ_TOKENS,
    SECOND_ADMIN_TOKEN,
    LiveServer,
    auth,
)

ALL_TOKENS = (ADMIN_TOKEN, SECOND_ADMIN_TOKEN, READ_TOKEN)
SCREENSHOTS = REPO / "artifacts" / "screenshots"

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


# --------------------------------------------------------------------------- Chromium

LAPTOP: ViewportSize = {"width": 1366, "height": 860}
TASK = "prod_fanout-worker:process-item"
SEEN = [
    "prod_fanout-worker:fan-out",
    "prod_fanout-worker:process-item",
    "prod_fanout-worker:collect-results",
    "prod_billing:charge-card",
    "prod_billing:send-email",
    "prod_ingest:embed-chunk",
    "staging_fanout-worker:process-item",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with chromium() as launched:
        yield launched


class Person:
    """One browser context (its own cookies) on the dashboard, remembering what it received."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page: Page = context.new_page()
        self.requested: list[str] = []
        self.bodies: list[tuple[str, str]] = []
        # What the page said in the console (warnings and errors) and the exceptions it did not catch.
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)
        self.context.on("request", lambda request: self.requested.append(request.url))
        self.context.on("response", self._keep)

    def _keep(self, response: Response) -> None:
        if response.status in (301, 302, 303, 307, 308):
            return
        if "text/event-stream" in response.headers.get("content-type", ""):
            return  # never ends; the stream is scanned in test_pages
        try:
            self.bodies.append((response.url, response.text()))
        except Exception:  # a body the browser already dropped (navigated away)
            self.bodies.append((response.url, ""))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def sign_in(self, token: str) -> None:
        self.page.goto("/")
        expect(self.page).to_have_url(f"{self.base_url}/sign-in")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page).to_have_url(f"{self.base_url}/")
        expect(self.page.locator("#live-status")).to_have_attribute("data-state", "live")

    def row(self, action_id: str) -> Locator:
        return self.page.locator(f'tr[data-action-id="{action_id}"]')

    def switch(self, action_id: str) -> Locator:
        return self.row(action_id).get_by_role("switch")

    def notices(self) -> Locator:
        return self.page.locator("#notices")

    def screenshot(self, name: str, *, full_page: bool = False) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


PersonFactory = Callable[..., Person]


@pytest.fixture
def people(browser: Chromium, dashboard: LiveServer) -> Iterator[PersonFactory]:
    made: list[Person] = []

    def make(url: str | None = None, viewport: ViewportSize | None = None, **options: object) -> Person:
        base_url = url or dashboard.url
        context = browser.new_context(base_url=base_url, viewport=viewport or LAPTOP, **options)  # type: ignore[arg-type]
        context.set_default_timeout(5000)
        person = Person(context, base_url)
        made.append(person)
        return person

    yield make
    for person in made:
        person.context.close()
        for url, body in person.bodies:
            assert_no_token(body, url)
        # No request ever left for another host: no CDN, no fonts, no telemetry.
        strays = [url for url in person.requested if not url.startswith("http://127.0.0.1:")]
        assert strays == [], strays


@pytest.fixture
def seeded(api: httpx.Client, worker_api: httpx.Client) -> httpx.Client:
    report_seen(worker_api, SEEN, worker="fanout-worker-7f9c4")
    bob = auth(SECOND_ADMIN_TOKEN)
    assert (
        api.put("/api/v1/patterns/prod_fanout-worker:*", json={"mode": "link"}, headers=bob).status_code
        == 200
    )
    note = {"mode": "parent", "note": "keep the join in the parent trace"}
    assert api.put("/api/v1/tasks/prod_fanout-worker:collect-results", json=note).status_code == 200
    assert (
        api.put("/api/v1/tasks/prod_ingest:embed-chunk", json={"mode": "link"}, headers=bob).status_code
        == 200
    )
    return api

"""Server-side sessions (issue 12): signing out ends a session everywhere, at once, even for a copied
cookie; idle sessions end; every replica on the same database shares them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator

import asyncpg
import pytest
from hatchet_trace_flags_server import Settings

from tests.support.server.dashboard import Browser
from tests.support.server.live import ADMIN_TOKEN, LiveFactory, SettingsFactory

TASK = "prod_orders:charge"


@pytest.fixture
def browsers() -> Iterator[Callable[[str], Browser]]:
    opened: list[Browser] = []

    def make(url: str) -> Browser:
        opened.append(Browser(base_url=url, timeout=10))
        return opened[-1]

    yield make
    for browser in opened:
        browser.close()


def signed_in(browser: Browser) -> Browser:
    assert browser.sign_in(ADMIN_TOKEN).status_code == 303
    return browser


def replay(browser: Browser, cookie: str) -> Browser:
    browser.cookies.set("htf_session", cookie, domain="127.0.0.1")
    return browser


def assert_signed_out(browser: Browser, csrf: str) -> None:
    assert browser.get("/").status_code == 303
    write = browser.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers={"X-CSRF-Token": csrf})
    assert write.status_code == 401
    assert browser.get("/api/v1/export").status_code == 401


def test_sign_out_ends_the_session_on_every_replica_even_for_a_copied_cookie(
    live_factory: LiveFactory, make_settings: SettingsFactory, browsers: Callable[[str], Browser]
) -> None:
    settings = make_settings()
    first = live_factory(settings)
    second = live_factory(settings)  # another replica on the same database
    browser = signed_in(browsers(first.url))
    cookie = browser.cookies["htf_session"]
    copied = replay(browsers(second.url), cookie)
    assert copied.get("/").status_code == 200
    assert copied.get("/api/v1/export").status_code == 200
    assert browser.post("/sign-out", data={"csrf_token": browser.csrf}).status_code == 303
    assert_signed_out(replay(browsers(first.url), cookie), browser.csrf)
    assert_signed_out(copied, browser.csrf)


def age_sessions(settings: Settings, seconds: int) -> None:
    """Move every session's last use back (nobody waits for an idle timeout in a test)."""
    statement = "UPDATE dashboard_sessions SET last_seen = last_seen - {}"
    if settings.database_url is None:
        connection = sqlite3.connect(settings.sqlite_path)
        with connection:
            connection.execute(statement.format("?"), (seconds,))
        connection.close()
        return

    async def run() -> None:
        connection = await asyncpg.connect(settings.database_url)
        try:
            await connection.execute(statement.format("$1"), seconds)
        finally:
            await connection.close()

    asyncio.run(run())


def test_an_idle_session_ends(
    live_factory: LiveFactory, make_settings: SettingsFactory, browsers: Callable[[str], Browser]
) -> None:
    settings = make_settings(session_idle_seconds=600)
    live = live_factory(settings)
    browser = signed_in(browsers(live.url))
    assert browser.get("/").status_code == 200
    # 10 s either side of the limit: a busy machine may take a second or two between these requests.
    age_sessions(settings, 590)
    assert browser.get("/").status_code == 200  # used within the idle time: still on
    age_sessions(settings, 610)
    assert_signed_out(browser, browser.csrf)


def test_signing_in_again_and_again_keeps_a_bounded_number_of_sessions(
    live_factory: LiveFactory, make_settings: SettingsFactory, browsers: Callable[[str], Browser]
) -> None:
    """Issue 27: a token made one row per sign-in without limit. Past the bound, the token's least
    recently used session ends; the others, and other tokens' sessions, stay."""
    settings = make_settings(max_sessions_per_token=2)
    live = live_factory(settings)
    first = signed_in(browsers(live.url))
    age_sessions(settings, 20)
    second = signed_in(browsers(live.url))
    age_sessions(settings, 20)
    third = signed_in(browsers(live.url))
    assert_signed_out(first, first.csrf)
    assert second.get("/").status_code == 200
    assert third.get("/").status_code == 200

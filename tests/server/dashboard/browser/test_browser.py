"""The dashboard in real headless Chromium (Debian's), driven by Playwright.

One browser for the module, a fresh context (cookies, storage) per person in a test. Screenshots of
the main states go to ``artifacts/screenshots/``. Every response a context receives is checked for
leaked tokens when the test ends.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.support.server.dashboard import (
    LAPTOP,
    SEEN,
    TASK,
    Person,
    PersonFactory,
    dashboard_settings,
    report_seen,
)
from tests.support.server.live import (
    ADMIN_TOKEN,
    POSTGRES_ADMIN_URL,
    READ_TOKEN,
    SECOND_ADMIN_TOKEN,
    LiveServer,
    auth,
    start_live_server,
)

# ------------------------------------------------------------------ signing in


def test_sign_in_shows_the_dashboard_and_sign_out_ends_it(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.page.goto("/")
    expect(alice.page).to_have_url(f"{alice.base_url}/sign-in")
    alice.screenshot("sign-in")
    alice.page.get_by_label("Token").fill("not-the-token")
    alice.page.get_by_role("button", name="Sign in").click()
    expect(alice.page.get_by_role("alert")).to_contain_text("That token is not valid")
    expect(alice.page.get_by_label("Token")).to_have_value("")
    alice.sign_in(ADMIN_TOKEN)
    expect(alice.page.locator(".who-name")).to_have_text("alice")
    expect(alice.row(TASK).locator(".why")).to_contain_text("prod_fanout-worker:*")
    cookies = {cookie["name"]: cookie for cookie in alice.context.cookies()}
    session = cookies["htf_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in session["value"]
    assert alice.page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    alice.screenshot("dashboard", full_page=True)
    alice.page.get_by_role("button", name="Sign out").click()
    expect(alice.page).to_have_url(f"{alice.base_url}/sign-in")
    alice.page.goto("/")
    expect(alice.page).to_have_url(f"{alice.base_url}/sign-in")


# ------------------------------------------------------------------ search, toggle, history


def test_search_as_you_type_and_filter(people: PersonFactory, seeded: httpx.Client) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(len(SEEN))
    alice.page.keyboard.press("/")  # the shortcut focuses the search box
    expect(alice.page.locator("#task-search")).to_be_focused()
    alice.page.keyboard.type("billing")
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(2)
    expect(alice.page).to_have_url(f"{alice.base_url}/?q=billing")
    alice.page.locator("#task-search").fill("")
    alice.page.locator("#filter-mode").select_option("link")
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(3)  # 2 by the pattern + embed-chunk
    alice.page.get_by_role("link", name="Clear filters").click()
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(len(SEEN))
    alice.page.locator("#task-search").fill("nothing-like-this")
    expect(alice.page.get_by_role("heading", name="No task matches")).to_be_visible()


def test_toggle_a_task_shows_in_the_api_and_the_audit_log(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    task = "prod_billing:charge-card"
    switch = alice.switch(task)
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_have_accessible_name(f"Span links for {task}")
    alice.page.get_by_label("Note").fill("charges fan out per line item")
    switch.click()
    expect(alice.switch(task)).to_have_attribute("aria-checked", "true")
    expect(alice.notices()).to_contain_text(f"{task} now starts a new trace with a span link")
    expect(alice.page.get_by_label("Note")).to_have_value("")
    body = seeded.get(f"/api/v1/tasks/{task}").json()
    assert (body["mode"], body["effective_mode"], body["updated_by"], body["note"]) == (
        "link",
        "link",
        "alice",
        "charges fan out per line item",
    )
    event = seeded.get("/api/v1/audit", params={"key": task}).json()["items"][0]
    assert (event["actor"], event["source"], event["before"]["mode"], event["after"]["mode"]) == (
        "alice",
        "dashboard",
        None,
        "link",
    )
    # The keyboard works too: focus stays on the switch across the swap.
    alice.switch(task).focus()
    alice.page.keyboard.press("Space")
    expect(alice.switch(task)).to_have_attribute("aria-checked", "false")
    expect(alice.switch(task)).to_be_focused()
    assert seeded.get(f"/api/v1/tasks/{task}").json()["mode"] == "parent"
    alice.row(task).get_by_role("link", name=f"History of {task}").click()
    dialog = alice.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".timeline-item")).to_have_count(2)
    expect(dialog).to_contain_text("charges fan out per line item")
    alice.screenshot("history")
    alice.page.keyboard.press("Escape")
    expect(alice.page.get_by_role("dialog")).to_have_count(0)


# ------------------------------------------------------------------ live updates and conflicts


def test_a_change_through_the_api_shows_up_live_in_another_browser(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    watcher = people()
    watcher.sign_in(ADMIN_TOKEN)  # a discovered task: a read token's page lists configured ones only
    task = "prod_billing:send-email"
    expect(watcher.switch(task)).to_have_attribute("aria-checked", "false")
    started = time.monotonic()
    response = seeded.put(
        f"/api/v1/tasks/{task}",
        json={"mode": "link"},
        headers={**auth(SECOND_ADMIN_TOKEN), "X-Change-Source": "cli"},
    )
    assert response.status_code == 200
    # The issue asks for under a second; the timeout leaves room for a loaded CI machine.
    expect(watcher.switch(task)).to_have_attribute("aria-checked", "true", timeout=3000)
    expect(watcher.notices()).to_contain_text(f"bob set {task} to link (cli)", timeout=3000)
    latency = time.monotonic() - started
    print(f"\nlive update reached the other browser in {latency * 1000:.0f} ms")
    watcher.screenshot("live-update")
    # Patterns and settings changes refresh the affected panels too.
    assert seeded.put("/api/v1/patterns/*:send-email", json={"mode": "link"}).status_code == 200
    expect(watcher.page.locator("#patterns-panel")).to_contain_text("*:send-email")
    expect(watcher.notices()).to_contain_text("alice added pattern *:send-email → link")


def test_a_stale_toggle_gets_a_conflict_notice_and_overwrites_nothing(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    # This page hears nothing live, so it still shows the old state when alice clicks.
    alice.context.route("**/api/v1/events", lambda route: route.abort())
    alice.page.goto("/")
    alice.page.get_by_label("Token").fill(ADMIN_TOKEN)
    alice.page.get_by_role("button", name="Sign in").click()
    task = "prod_billing:charge-card"
    expect(alice.switch(task)).to_have_attribute("aria-checked", "false")
    bob = auth(SECOND_ADMIN_TOKEN)
    assert seeded.put(f"/api/v1/tasks/{task}", json={"mode": "link"}, headers=bob).status_code == 200
    assert (
        seeded.put(
            f"/api/v1/tasks/{task}", json={"mode": "parent", "note": "not yet"}, headers=bob
        ).status_code
        == 200
    )
    alice.switch(task).click()  # based on version 0; the task is at version 2 now
    expect(alice.notices()).to_contain_text(f"Not saved: {task} was changed by bob")
    expect(alice.row(task)).to_have_class("task-row is-conflict")
    expect(alice.row(task)).to_contain_text("not yet")  # re-rendered with the current state
    alice.screenshot("conflict")
    assert seeded.get(f"/api/v1/tasks/{task}").json()["mode"] == "parent"
    assert seeded.get("/api/v1/audit", params={"key": task}).json()["items"][0]["actor"] == "bob"
    alice.switch(task).click()  # now based on the current version: it goes through
    expect(alice.switch(task)).to_have_attribute("aria-checked", "true")
    assert seeded.get(f"/api/v1/tasks/{task}").json()["mode"] == "link"


# ------------------------------------------------------------------ read-only, kill switch


def test_a_read_only_user_cannot_toggle(people: PersonFactory, seeded: httpx.Client) -> None:
    reader = people()
    reader.sign_in(READ_TOKEN)
    expect(reader.page.get_by_text("Read-only.")).to_be_visible()
    configured = "prod_ingest:embed-chunk"  # a read token's page lists the rule set's tasks
    switch = reader.switch(configured)
    expect(switch).to_have_attribute("aria-disabled", "true")
    expect(switch).to_have_accessible_name(f"Span links for {configured} (read-only)")
    switch.click(force=True)  # a person can still click it: nothing happens
    expect(reader.switch(configured)).to_have_attribute("aria-checked", "true")
    expect(reader.page.locator("#links-switch")).to_have_count(0)
    expect(reader.page.locator("#new-pattern")).to_have_count(0)
    reader.screenshot("read-only")
    # Forging the request with the reader's own CSRF token is refused too.
    csrf = reader.page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    forged = reader.page.request.post(
        "/ui/tasks/mode",
        form={"action_id": TASK, "mode": "parent", "version": "0", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert forged.status == 403
    body = seeded.get(f"/api/v1/tasks/{TASK}").json()
    assert (body["mode"], body["effective_mode"]) == (None, "link")


def test_the_kill_switch_asks_for_confirmation(people: PersonFactory, seeded: httpx.Client) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    kill_switch = alice.page.get_by_role("switch", name="Span links", exact=True)
    expect(kill_switch).to_have_attribute("aria-checked", "true")
    kill_switch.click()
    dialog = alice.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Turn off span links for every task?")
    expect(dialog).to_contain_text("overriding the 2 rules that ask for span links")
    alice.screenshot("kill-switch-confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    expect(alice.page.get_by_role("dialog")).to_have_count(0)
    expect(kill_switch).to_be_focused()
    assert seeded.get("/api/v1/settings").json()["links_enabled"] is True
    kill_switch.click()
    alice.page.get_by_role("dialog").get_by_role("button", name="Turn links off").click()
    expect(alice.page.get_by_role("dialog")).to_have_count(0)
    expect(alice.page.get_by_role("switch", name="Span links", exact=True)).to_have_attribute(
        "aria-checked", "false"
    )
    assert seeded.get("/api/v1/settings").json()["links_enabled"] is False
    expect(alice.row(TASK).locator(".why-killed")).to_be_visible()
    expect(alice.page.locator("#tasks-summary")).to_contain_text("Span links off")
    alice.screenshot("kill-switch-on", full_page=True)


# ------------------------------------------------------------------ CSRF from another origin


class _EvilSite(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        forms = {
            "/toggle": (
                f'<form method="post" action="{self.target}/ui/tasks/mode">'
                f'<input name="action_id" value="{TASK}"><input name="mode" value="parent">'
                '<input name="version" value="0"></form>'
            ),
            "/import": (
                f'<form method="post" enctype="text/plain" action="{self.target}/api/v1/import">'
                '<input name=\'{"version": 1, "default": "link", "x": "\' value=\'"}\'></form>'
            ),
        }
        body = f"<!doctype html><body>{forms[self.path]}<script>document.forms[0].submit()</script></body>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def evil_site(dashboard: LiveServer) -> Iterator[str]:
    """Another origin on the same host (so the same *site*: SameSite cookies are still sent)."""
    handler = type("Handler", (_EvilSite,), {"target": dashboard.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_forged_cross_origin_form_post_is_rejected(
    people: PersonFactory, seeded: httpx.Client, evil_site: str
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    before = seeded.get("/api/v1/snapshot").headers["X-Rules-Revision"]
    with alice.page.expect_response(f"{alice.base_url}/ui/tasks/mode") as toggle:
        alice.page.goto(f"{evil_site}/toggle")
    assert toggle.value.status == 403
    assert "htf_session=" in toggle.value.request.all_headers().get("cookie", "")  # the cookie went along
    # The browser names the forging page in Origin: refused before the CSRF token is even checked.
    expect(alice.page.get_by_role("alert")).to_contain_text("Origin check")
    with alice.page.expect_response(f"{alice.base_url}/api/v1/import") as imported:
        alice.page.goto(f"{evil_site}/import")
    assert imported.value.status == 403
    assert seeded.get("/api/v1/snapshot").headers["X-Rules-Revision"] == before
    assert seeded.get(f"/api/v1/tasks/{TASK}").json()["mode"] is None


# ------------------------------------------------------------------ layout


def test_narrow_window_and_empty_state(people: PersonFactory, api: httpx.Client) -> None:
    newcomer = people()
    newcomer.sign_in(ADMIN_TOKEN)
    expect(newcomer.page.get_by_role("heading", name="No tasks yet")).to_be_visible()
    newcomer.screenshot("empty-state")
    phone = people(viewport={"width": 390, "height": 844})
    with httpx.Client(base_url=phone.base_url, headers=auth(READ_TOKEN)) as worker:
        report_seen(worker, SEEN)
    phone.sign_in(ADMIN_TOKEN)
    overflow = phone.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a narrow window"
    phone.switch(TASK).click()
    expect(phone.switch(TASK)).to_have_attribute("aria-checked", "true")
    phone.screenshot("narrow")


# ------------------------------------------------------------------ another replica


def _off_this_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine on its own loop in another thread: Playwright's sync API owns this thread's loop."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if failure:
        raise failure[0]


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL database for two replicas."""
    name = f"htf_test_{int(time.time())}_{secrets.token_hex(4)}"

    def statement(sql: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
            try:
                await connection.execute(sql)
            finally:
                await connection.close()

        return run

    _off_this_thread(statement(f'CREATE DATABASE "{name}"'))
    yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    _off_this_thread(statement(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_change_on_another_replica_shows_up_live(
    browser: Browser, shared_postgres: str, tmp_path: Path
) -> None:
    """Two replicas on one PostgreSQL database: a page on one sees a change made on the other."""
    first = start_live_server(dashboard_settings(tmp_path / "a", database_url=shared_postgres))
    second = start_live_server(dashboard_settings(tmp_path / "b", database_url=shared_postgres))
    try:
        with httpx.Client(base_url=second.url, headers=auth(READ_TOKEN)) as worker:
            report_seen(worker, [TASK])
        context = browser.new_context(base_url=first.url, viewport=LAPTOP)
        context.set_default_timeout(5000)
        person = Person(context, first.url)
        person.sign_in(ADMIN_TOKEN)
        expect(person.switch(TASK)).to_have_attribute("aria-checked", "false")
        with httpx.Client(base_url=second.url, headers=auth(SECOND_ADMIN_TOKEN)) as other_replica:
            assert other_replica.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}).status_code == 200
        expect(person.switch(TASK)).to_have_attribute("aria-checked", "true", timeout=3000)
        expect(person.notices()).to_contain_text(f"bob set {TASK} to link", timeout=3000)
        context.close()
    finally:
        first.stop()
        second.stop()

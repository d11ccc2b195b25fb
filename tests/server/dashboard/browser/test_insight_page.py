"""The fan-out insight page in real headless Chromium: the recommendation shown with its numbers
and pictures, applied in one click (a versioned, audited write), and dismissed (persisted)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.support.server.chromium import chromium
from tests.support.server.dashboard import SCREENSHOTS, assert_no_token, report_seen
from tests.support.server.insight_reports import CHILD, SPAWNER, fan_out_report
from tests.support.server.live import ADMIN_TOKEN, LiveServer

pytestmark = pytest.mark.timeout(90)

REASON = (
    "link recommended: \N{MULTIPLICATION SIGN}200 children per run, started up to 4.2 s after a 60 ms spawner"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def measured(worker_api: httpx.Client, api: httpx.Client) -> httpx.Client:
    report_seen(worker_api, [SPAWNER, CHILD], worker="fanout-worker-7f9c4")
    for worker in ("fanout-worker-7f9c4", "fanout-worker-2b1e0"):
        assert worker_api.post("/api/v1/tasks/insights", json=fan_out_report(worker)).status_code == 200
    return api


@pytest.fixture
def page(browser: Browser, dashboard: LiveServer, measured: httpx.Client) -> Iterator[Page]:
    context = browser.new_context(base_url=dashboard.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5000)
    requested: list[str] = []
    problems: list[str] = []
    bodies: list[tuple[str, str]] = []
    context.on("request", lambda request: requested.append(request.url))
    context.on("response", lambda response: bodies.append((response.url, _text(response))))
    opened = context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":  # a CSP violation (inline style, outside request) shows up here
            problems.append(message.text)

    opened.on("console", console)
    opened.goto("/sign-in")
    opened.get_by_label("Token").fill(ADMIN_TOKEN)
    opened.get_by_role("button", name="Sign in").click()
    expect(opened).to_have_url(f"{dashboard.url}/")
    opened.get_by_role("link", name="Fan-out insight").click()
    expect(opened).to_have_url(f"{dashboard.url}/insights")
    yield opened
    context.close()
    assert problems == []
    assert [url for url in requested if not url.startswith("http://127.0.0.1:")] == []
    for url, body in bodies:
        assert_no_token(body, url)


def _text(response: object) -> str:
    try:
        return str(response.text())  # type: ignore[attr-defined]
    except Exception:  # redirects and dropped bodies
        return ""


def test_the_recommendation_is_shown_with_its_numbers_and_pictures(page: Page) -> None:
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    expect(card.locator(".recommendation-text")).to_have_text(REASON)
    expect(card.locator(".insight-task .mode-chip")).to_have_text("parent")
    numbers = card.locator(".insight-numbers")
    expect(numbers).to_contain_text("\N{MULTIPLICATION SIGN}200")
    expect(numbers).to_contain_text("60 ms")
    expect(card).to_contain_text(f"spawned by {SPAWNER} (1200 runs)")
    # Delays of 21 ms to 4.2 s in doubling buckets: the three that start below the 60 ms spawner's
    # duration are light, the six after it (children that hold a parent trace open) dark.
    assert card.locator("svg rect.bar").count() == 3
    assert card.locator("svg rect.bar-late").count() == 6
    expect(card.get_by_role("img", name="Trace open: parent mode 4.1 s, link mode 60 ms")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "insight.png"))
    page.screenshot(path=str(SCREENSHOTS / "insight-page.png"), full_page=True)


def test_apply_sets_link_through_the_versioned_audited_write(page: Page, measured: httpx.Client) -> None:
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    card.get_by_role("button", name="Apply: switch to link").click()
    expect(page.locator("#notices")).to_contain_text(f"{CHILD} now starts a new trace with a span link")
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    # The task's own chip: when the reports and the change fall in different minutes, the card also
    # compares before with after, with a chip for each side.
    expect(card.locator(".insight-task .mode-chip")).to_have_text("link")
    expect(card.locator(".recommendation")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "insight-applied.png"), full_page=True)

    task = measured.get(f"/api/v1/tasks/{CHILD}").json()
    assert (task["mode"], task["updated_by"], task["note"], task["version"]) == ("link", "alice", REASON, 1)
    [event] = measured.get("/api/v1/audit", params={"key": CHILD}).json()["items"]
    assert (event["source"], event["actor"], event["after"]["mode"]) == ("dashboard", "alice", "link")


def test_apply_after_someone_else_changed_the_task_changes_nothing(
    page: Page, measured: httpx.Client
) -> None:
    assert measured.put(f"/api/v1/tasks/{CHILD}", json={"mode": "parent", "note": "keep"}).status_code == 200
    page.locator(f'section.insight[data-action-id="{CHILD}"]').get_by_role(
        "button", name="Apply: switch to link"
    ).click()
    expect(page.locator("#notices")).to_contain_text("Not applied")
    assert measured.get(f"/api/v1/tasks/{CHILD}").json()["mode"] == "parent"


def test_dismiss_is_persisted_and_can_be_undone(page: Page, measured: httpx.Client) -> None:
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    card.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#notices")).to_contain_text("Dismissed")
    page.reload()
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    expect(card.locator(".recommendation")).to_contain_text(f"Dismissed: {REASON}")
    expect(card.get_by_role("button", name="Apply: switch to link")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "insight-dismissed.png"), full_page=True)
    insight = measured.get(f"/api/v1/insights/{CHILD}").json()
    assert insight["recommendation"]["dismissed"] is True
    assert measured.get(f"/api/v1/tasks/{CHILD}").json()["mode"] is None  # nothing was changed

    card.get_by_role("button", name="Show again").click()
    expect(page.locator(f'section.insight[data-action-id="{CHILD}"] .recommendation-text')).to_have_text(
        REASON
    )

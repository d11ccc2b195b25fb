"""The insight page's before/after view in real headless Chromium: a task switched to link shows the
spawner's trace-open time and the child start delays of the window before the change versus the window
after it, with its two pictures, and nothing breaks the CSP.

The numbers arrive as they do in production, by minute of arrival, but written straight into the
server's database at the minutes around the change (ten minutes before it, five after): a test cannot
wait a quarter of an hour for the minutes to pass.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
from hatchet_trace_flags_server.core.insight_bodies import InsightsIn
from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.store import Store
from playwright.sync_api import expect
from sqlalchemy.engine import URL

from hatchet_trace_flags.contract import TaskSummary
from tests.support.server.dashboard import SCREENSHOTS, PersonFactory, report_seen
from tests.support.server.insight_reports import CHILD, SPAWNER, fan_out_report
from tests.support.server.live import ADMIN_TOKEN, LiveServer

pytestmark = pytest.mark.timeout(90)


def _summaries(*, link: bool, max_delay: float) -> dict[str, TaskSummary]:
    body = InsightsIn.model_validate(fan_out_report("fanout-worker-7f9c4", link=link, max_delay=max_delay))
    return {task.action_id: task.to_summary() for task in body.tasks}


async def _record_around(url: URL, minute: int) -> None:
    database = Database(url)
    try:
        insights = Store(database).insights
        for offset in range(-10, 0):
            await insights.record(_summaries(link=False, max_delay=4.2), minute=minute + offset, cap=100)
        for offset in range(1, 6):
            await insights.record(_summaries(link=True, max_delay=0.3), minute=minute + offset, cap=100)
    finally:
        await database.dispose()


@pytest.fixture
def switched(dashboard: LiveServer, api: httpx.Client, worker_api: httpx.Client) -> int:
    """CHILD switched to link by alice; returns the minute of the change."""
    report_seen(worker_api, [SPAWNER, CHILD], worker="fanout-worker-7f9c4")
    change = {"mode": "link", "note": "INC-2231: children start late"}
    assert api.put(f"/api/v1/tasks/{CHILD}", json=change).status_code == 200
    [event] = api.get("/api/v1/audit", params={"key": CHILD}).json()["items"]
    minute = int(datetime.fromisoformat(event["at"]).timestamp() // 60)
    url = state_of(dashboard.app).services.settings.sqlalchemy_url()
    # On a thread of its own: this one runs Playwright's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _record_around(url, minute)).result(30)
    return minute


def test_the_card_compares_the_window_before_the_change_with_the_window_after(
    people: PersonFactory, switched: int
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    alice.page.get_by_role("link", name="Fan-out insight").click()
    view = alice.page.locator(f'section.insight[data-action-id="{CHILD}"] [data-before-after="{CHILD}"]')
    expect(view).to_be_visible()
    expect(view.locator(".before-after-title")).to_contain_text("no task rule → link")
    expect(view).to_contain_text("by alice")
    expect(view).to_contain_text("INC-2231: children start late")
    expect(view).to_contain_text("The after side is still being measured.")
    # Before: parent mode, the trace held open by children starting up to 4.2 s late; after: link mode,
    # the trace ends with the spawner (60 ms).
    opened = view.locator("tr.ba-open td")
    expect(opened.nth(0)).to_contain_text("(parent)")
    expect(opened.nth(1)).to_have_text("60 ms (link)")
    runs = view.locator("tr.ba-runs td")
    expect(runs.nth(0)).to_have_text("6000 (0 link, 6000 parent)")
    expect(runs.nth(1)).to_have_text("3000 (3000 link, 0 parent)")
    before_seconds = float(opened.nth(0).inner_text().split(" ")[0])
    assert before_seconds > 3.5
    # The pictures: two trace-open bars, the before one far longer; start-delay bars on both sides.
    [before_bar, after_bar] = view.locator("svg rect.bar-parent, svg rect.bar-link").all()
    assert float(before_bar.get_attribute("width") or 0) > 10 * float(after_bar.get_attribute("width") or 0)
    assert view.locator("svg title", has_text="before:").count() > 0
    assert view.locator("svg title", has_text="after:").count() > 0
    view.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    view.screenshot(path=str(SCREENSHOTS / "insight-before-after.png"))
    alice.screenshot("insight-before-after-page", full_page=True)
    assert alice.console == []
    assert alice.page_errors == []

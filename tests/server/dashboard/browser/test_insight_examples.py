"""Example traces on the insight page, in real headless Chromium: with the operator's trace URL template, a
recommended task's card links its main spawner's longest-held trace and its latest-starting child's trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server import Settings
from playwright.sync_api import Browser, Page, expect

from tests.support.server.dashboard import dashboard_settings, report_seen
from tests.support.server.insight_reports import (
    CHILD,
    SPAWNER,
    SPAWNER_TRACE,
    fan_out_report,
    latest_child_trace,
)
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth

pytestmark = pytest.mark.timeout(90)

TEMPLATE = "https://jaeger.example.com/trace/{trace_id}"


@pytest.fixture
def traced_dashboard(live_factory: Callable[[Settings], LiveServer], tmp_path: Path) -> LiveServer:
    live = live_factory(dashboard_settings(tmp_path, trace_url_template=TEMPLATE))
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN), timeout=30) as worker_api:
        report_seen(worker_api, [SPAWNER, CHILD], worker="fanout-worker-7f9c4")
        answer = worker_api.post(
            "/api/v1/tasks/insights", json=fan_out_report("fanout-worker-7f9c4", traces=True)
        )
        assert answer.status_code == 200, answer.text
    return live


@pytest.fixture
def page(browser: Browser, traced_dashboard: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=traced_dashboard.url)
    context.set_default_timeout(5000)
    opened = context.new_page()
    opened.goto("/sign-in")
    opened.get_by_label("Token").fill(ADMIN_TOKEN)
    opened.get_by_role("button", name="Sign in").click()
    expect(opened).to_have_url(f"{traced_dashboard.url}/")
    opened.goto("/insights")
    yield opened
    context.close()


def test_the_card_links_an_example_spawner_trace_and_child_trace(page: Page) -> None:
    card = page.locator(f'section.insight[data-action-id="{CHILD}"]')
    spawner = card.get_by_role("link", name="Open an example spawner trace")
    child = card.get_by_role("link", name="Open an example child trace")
    expect(spawner).to_have_attribute("href", TEMPLATE.replace("{trace_id}", f"{SPAWNER_TRACE:032x}"))
    expect(child).to_have_attribute("href", TEMPLATE.replace("{trace_id}", latest_child_trace()))
    expect(spawner).to_have_attribute("rel", "noopener noreferrer")
    expect(card.locator(".insight-examples")).to_contain_text("held open 60 ms")
    expect(card.locator(".insight-examples")).to_contain_text("started 4.2 s after its spawn")

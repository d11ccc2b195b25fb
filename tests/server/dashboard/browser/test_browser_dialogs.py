"""The history dialog and live updates, in real headless Chromium (issue 26): Escape pressed while a
live update of the open dialog is on its way closes it for good."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Route, expect

from tests.support.server.dashboard import PersonFactory
from tests.support.server.layout import csp_violations, record_csp_violations
from tests.support.server.live import ADMIN_TOKEN, SECOND_ADMIN_TOKEN, auth

TASK = "prod_billing:charge-card"

# Resolves once htmx has finished with the next request for a task's history (swapped or not).
_HISTORY_DONE = """() => {
  window.__historyDone = new Promise((resolve) => {
    document.body.addEventListener("htmx:afterRequest", (event) => {
      const path = (event.detail.requestConfig && event.detail.requestConfig.path) || "";
      if (path.startsWith("/ui/tasks/history")) resolve(event.detail.xhr.status);
    });
  });
}"""


def test_escape_during_a_live_update_of_the_history_closes_it(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    record_csp_violations(alice.context)
    alice.sign_in(ADMIN_TOKEN)
    alice.row(TASK).get_by_role("link", name=f"History of {TASK}").click()
    dialog = alice.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".timeline-item")).to_have_count(0)
    escaped: list[str] = []

    def escape_while_on_its_way(route: Route) -> None:
        # The refresh has left the page and not come back: the person presses Escape now.
        alice.page.keyboard.press("Escape")
        escaped.append(route.request.url)
        route.continue_()

    alice.page.route("**/ui/tasks/history?*", escape_while_on_its_way)
    alice.page.evaluate(_HISTORY_DONE)
    assert seeded.put(
        f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers=auth(SECOND_ADMIN_TOKEN)
    ).is_success
    assert alice.page.evaluate("window.__historyDone") == 200  # the update came back and was handled
    assert len(escaped) == 1
    expect(alice.page.locator("dialog")).to_have_count(0)
    expect(alice.row(TASK).get_by_role("link", name=f"History of {TASK}")).to_be_focused()
    # Still open: a live update re-renders the dialog's content in place.
    alice.page.unroute("**/ui/tasks/history?*")
    alice.row(TASK).get_by_role("link", name=f"History of {TASK}").click()
    expect(dialog.locator(".timeline-item")).to_have_count(1)
    assert seeded.put(f"/api/v1/tasks/{TASK}", json={"mode": "parent", "note": "back"}).is_success
    expect(dialog.locator(".timeline-item")).to_have_count(2)
    expect(dialog).to_contain_text("back")
    expect(dialog).to_be_visible()
    alice.page.keyboard.press("Escape")
    expect(alice.page.locator("dialog")).to_have_count(0)
    assert csp_violations(alice.page) == []


@pytest.mark.parametrize("width", [390, 1366])
def test_no_csp_violation_after_refused_pattern_changes_and_a_good_one(
    people: PersonFactory, seeded: httpx.Client, width: int
) -> None:
    alice = people(viewport={"width": width, "height": 900})
    record_csp_violations(alice.context)
    alice.sign_in(ADMIN_TOKEN)
    panel = alice.page.locator("#patterns-panel")
    field = alice.page.locator("#new-pattern")
    # Refused three ways: not a pattern (422), already there (409), changed by someone else (412).
    field.fill("no-star")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.locator(".notice-error")).to_contain_text("Not saved")
    field.fill("prod_fanout-worker:*")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.locator(".notice-error").last).to_contain_text("already exists")
    alice.context.route("**/api/v1/events", lambda route: route.abort())  # this page misses bob's change
    alice.page.reload()
    assert seeded.put(
        "/api/v1/patterns/prod_fanout-worker:*", json={"mode": "parent"}, headers=auth(SECOND_ADMIN_TOKEN)
    ).is_success
    switch = panel.get_by_role("switch", name="Span links for pattern prod_fanout-worker:*")
    switch.click()
    expect(alice.notices()).to_contain_text("Not saved: pattern prod_fanout-worker:* was changed by bob")
    # Then a good one, on the panel the refusal redrew.
    panel.get_by_role("switch", name="Span links for pattern prod_fanout-worker:*").click()
    expect(alice.notices()).to_contain_text("Pattern prod_fanout-worker:* → link.")
    field.fill("prod_billing:*")
    field.press("Enter")  # on a phone the notices cover the Add button
    expect(panel).to_contain_text("prod_billing:*")
    assert csp_violations(alice.page) == []
    assert alice.page_errors == []
    assert not [line for line in alice.console if "Content Security Policy" in line], alice.console

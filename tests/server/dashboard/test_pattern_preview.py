"""The "matches N tasks" preview under the add-pattern field (issue 26), in real headless Chromium:
it follows what is typed (debounced: one request for a burst of keys), says how many known tasks the
pattern names and how many keep their own setting, and hints when the text is not a pattern yet."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.server.dashboard import BrowserFactory, PersonFactory
from tests.support.server.layout import csp_violations, record_csp_violations
from tests.support.server.live import ADMIN_TOKEN

pytestmark = pytest.mark.timeout(90)


def test_the_preview_counts_the_tasks_a_pattern_names(people: PersonFactory, seeded: httpx.Client) -> None:
    alice = people()
    record_csp_violations(alice.context)
    alice.sign_in(ADMIN_TOKEN)
    field = alice.page.locator("#new-pattern")
    preview = alice.page.locator("#pattern-preview")
    expect(field).to_have_attribute("aria-describedby", "pattern-preview")
    field.click()
    alice.page.keyboard.type("prod_fanout-worker:*")
    # fan-out, process-item and collect-results; collect-results has its own mode (parent).
    expect(preview).to_have_text("Matches 3 known tasks; 1 keeps its own setting, which wins.")
    asked = [url for url in alice.requested if "/ui/patterns/preview" in url]
    assert len(asked) <= 2, asked  # 20 keys typed in a burst: one request (two on a slow machine)
    field.fill("*:send-email")
    expect(preview).to_have_text("Matches 1 known task.")
    field.fill("prod_billing")
    expect(preview).to_contain_text("Not a pattern yet:")
    field.fill("nothing-like-it:*")
    expect(preview).to_have_text("Matches 0 known tasks.")
    # Adding the pattern redraws the panel: the preview starts empty again.
    field.fill("prod_billing:*")
    expect(preview).to_have_text("Matches 2 known tasks.")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.locator("#patterns-panel")).to_contain_text("prod_billing:*")
    expect(alice.page.locator("#pattern-preview")).to_be_empty()
    assert csp_violations(alice.page) == []


def test_the_preview_is_a_fragment_and_bounds_its_input(
    http_browser: BrowserFactory, seeded: httpx.Client
) -> None:
    alice = http_browser(ADMIN_TOKEN)
    fragment = alice.htmx("GET", "/ui/patterns/preview", params={"pattern": "*:send-email"})
    assert fragment.status_code == 200
    assert "Matches <strong>1</strong> known task" in fragment.text
    assert alice.get("/ui/patterns/preview", params={"pattern": "x*"}).status_code == 303  # not htmx
    too_long = alice.htmx("GET", "/ui/patterns/preview", params={"pattern": "x" * 2000 + "*"})
    assert 400 <= too_long.status_code < 500
    assert alice.htmx("GET", "/ui/patterns/preview", params={"pattern": "a\x00*"}).status_code < 500

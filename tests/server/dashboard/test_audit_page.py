"""The audit page (issue 26): every change newest first, filtered by who and what, admin only like the
audit API, refused input answered with a 4xx page; and in Chromium, reached from the top bar."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.server.dashboard import TASK, BrowserFactory, PersonFactory
from tests.support.server.layout import csp_violations, record_csp_violations
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, SECOND_ADMIN_TOKEN, auth

pytestmark = pytest.mark.timeout(90)


def revisions(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'class="audit-item" data-revision="(\d+)"', html)]


@pytest.fixture
def history(seeded: httpx.Client) -> httpx.Client:
    """Seeded (bob's pattern and task, alice's task), then a settings change, an import and a note."""
    bob = auth(SECOND_ADMIN_TOKEN)
    assert seeded.patch(
        "/api/v1/settings", json={"default": "link", "note": "try link"}, headers=bob
    ).is_success
    rules = seeded.get("/api/v1/export").json()
    rules["tasks"]["prod_billing:charge-card"] = "link"
    assert seeded.post("/api/v1/import", json=rules, params={"note": "restore"}).is_success
    assert seeded.put(f"/api/v1/tasks/{TASK}", json={"mode": "parent", "note": "incident 42"}).is_success
    return seeded


def test_the_audit_page_lists_and_filters_every_kind_of_change(
    http_browser: BrowserFactory, history: httpx.Client
) -> None:
    alice = http_browser(ADMIN_TOKEN)
    page = alice.get("/audit")
    assert page.status_code == 200
    api = history.get("/api/v1/audit").json()["items"]
    assert revisions(page.text) == [item["revision"] for item in api]  # all of them, newest first
    assert {'data-kind="task"', 'data-kind="pattern"', 'data-kind="settings"', 'data-kind="import"'} <= set(
        re.findall(r'data-kind="\w+"', page.text)
    )
    assert "incident 42" in page.text
    assert 'default</span> parent <span aria-label="to">→</span> link' in page.text
    by_bob = alice.get("/audit", params={"actor": "bob"})
    assert revisions(by_bob.text) == [i["revision"] for i in api if i["actor"] == "bob"]
    assert len(revisions(by_bob.text)) == 3
    settings = alice.get("/audit", params={"kind": "settings"})
    assert revisions(settings.text) == [i["revision"] for i in api if i["kind"] == "settings"]
    one_task = alice.get("/audit", params={"key": TASK, "actor": "alice"})
    assert revisions(one_task.text) == [
        i["revision"] for i in api if i["key"] == TASK and i["actor"] == "alice"
    ]
    assert 'value="alice"' in one_task.text  # the form keeps the filters
    nothing = alice.get("/audit", params={"actor": "nobody"})
    assert revisions(nothing.text) == []
    assert "No change matches these filters" in nothing.text


def test_older_changes_page_by_revision(http_browser: BrowserFactory, api: httpx.Client) -> None:
    for number in range(55):
        assert api.put(f"/api/v1/tasks/many:task-{number}", json={"mode": "link"}).is_success
    alice = http_browser(ADMIN_TOKEN)
    first = alice.get("/audit")
    shown = revisions(first.text)
    assert len(shown) == 50
    older = re.search(r'href="(/audit\?before=\d+)" rel="next"', first.text)
    assert older is not None
    rest = revisions(alice.get(older.group(1)).text)
    assert rest == list(range(shown[-1] - 1, 0, -1))


def test_the_audit_page_is_for_admins_and_refuses_bad_filters_with_a_4xx(
    http_browser: BrowserFactory, history: httpx.Client
) -> None:
    reader = http_browser(READ_TOKEN)
    refused = reader.get("/audit")
    assert refused.status_code == 403
    assert "The audit log is for admin tokens" in refused.text
    assert 'href="/audit"' not in reader.get("/").text  # no link to it either
    assert http_browser().get("/audit").status_code == 303  # not signed in: to the sign-in page
    alice = http_browser(ADMIN_TOKEN)
    for params in ({"kind": "everything"}, {"before": "0"}, {"before": "x"}, {"actor": "a\x00b"}):
        response = alice.get("/audit", params=params)
        assert 400 <= response.status_code < 500, (params, response.status_code)


def test_the_audit_page_in_a_browser(people: PersonFactory, history: httpx.Client) -> None:
    alice = people()
    record_csp_violations(alice.context)
    alice.sign_in(ADMIN_TOKEN)
    alice.page.get_by_role("link", name="Audit").click()
    expect(alice.page).to_have_url(f"{alice.base_url}/audit")
    items = alice.page.locator(".audit-item")
    expect(items.first).to_contain_text("incident 42")
    alice.page.get_by_label("Who").fill("bob")
    alice.page.get_by_label("What").select_option("pattern")
    alice.page.get_by_role("button", name="Show").click()
    expect(alice.page).to_have_url(re.compile(r"/audit\?actor=bob&kind=pattern"))
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("prod_fanout-worker:*")
    alice.page.get_by_role("link", name="Clear").click()
    expect(items).to_have_count(len(history.get("/api/v1/audit").json()["items"]))
    assert csp_violations(alice.page) == []

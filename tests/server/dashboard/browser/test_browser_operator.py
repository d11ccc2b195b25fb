"""The dashboard as an operator meets it (issue 13), in real headless Chromium: counts and revision
that follow every change, one name for the global switch, filters that keep the sort and say what
excludes rows, compact rows, notices that do not pile up, patterns reachable on a phone, and a
console without errors."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.support.server.dashboard import SEEN, TASK, Person, PersonFactory
from tests.support.server.live import ADMIN_TOKEN, SECOND_ADMIN_TOKEN, LiveServer, auth

PHONE = {"width": 390, "height": 844}
# Seeded: prod_fanout-worker:* gives fan-out and process-item link, embed-chunk has its own link,
# collect-results its own parent; the other four follow the default, parent.
SEEDED_LINKS = 3


def rules_revision(api: httpx.Client) -> int:
    return int(api.get("/api/v1/snapshot").headers["X-Rules-Revision"])


def expect_counts(person: Person, links: int) -> None:
    summary = person.page.locator("#tasks-summary")
    expect(summary).to_contain_text(f"{len(SEEN)} tasks")
    expect(summary).to_contain_text(f"{links} link")
    expect(summary).to_contain_text(f"{len(SEEN) - links} parent")


def expect_revision(person: Person, revision: int) -> None:
    expect(person.page.locator("#rules-revision strong")).to_have_text(str(revision))


def sign_in_without_live_updates(person: Person, token: str) -> None:
    """A page that hears no change events: what it shows can only come from its own requests."""
    person.context.route("**/api/v1/events", lambda route: route.abort())
    person.page.goto("/")
    person.page.get_by_label("Token").fill(token)
    person.page.get_by_role("button", name="Sign in").click()
    expect(person.page.locator("#tasks-summary")).to_be_visible()


def visible_text(page: Page) -> str:
    return str(page.evaluate("document.body.innerText"))


# ------------------------------------------------------------------ counts and revision


def test_counts_and_revision_follow_a_toggle_and_changes_from_elsewhere(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    revision = rules_revision(seeded)
    expect_counts(alice, SEEDED_LINKS)
    expect_revision(alice, revision)
    task = "prod_billing:charge-card"
    alice.switch(task).click()
    expect(alice.switch(task)).to_have_attribute("aria-checked", "true")
    expect_counts(alice, SEEDED_LINKS + 1)
    expect_revision(alice, revision + 1)
    expect(alice.switch(task)).to_be_focused()  # only the counts were redrawn, not the row in use
    # Someone else, through the API: the counts and the revision follow without a reload.
    bob = auth(SECOND_ADMIN_TOKEN)
    assert seeded.put("/api/v1/tasks/prod_billing:send-email", json={"mode": "link"}, headers=bob).is_success
    expect_counts(alice, SEEDED_LINKS + 2)
    expect_revision(alice, revision + 2)
    assert seeded.patch("/api/v1/settings", json={"default": "link"}, headers=bob).is_success
    expect_counts(alice, len(SEEN) - 1)  # only collect-results keeps its own parent
    expect_revision(alice, revision + 3)


def test_counts_and_revision_follow_a_conflict(people: PersonFactory, seeded: httpx.Client) -> None:
    alice = people()
    sign_in_without_live_updates(alice, ADMIN_TOKEN)
    revision = rules_revision(seeded)
    expect_revision(alice, revision)
    task = "prod_billing:charge-card"
    bob = auth(SECOND_ADMIN_TOKEN)
    assert seeded.put(f"/api/v1/tasks/{task}", json={"mode": "link"}, headers=bob).is_success
    expect_counts(alice, SEEDED_LINKS)  # this page heard nothing
    alice.switch(task).click()  # asks for link again, from version 0: refused
    expect(alice.notices()).to_contain_text(f"Not saved: {task} was changed by bob")
    expect(alice.row(task)).to_have_class(re.compile(r"\bis-conflict\b"))
    expect_counts(alice, SEEDED_LINKS + 1)
    expect_revision(alice, revision + 1)


# ------------------------------------------------------------------ span links off


def test_span_links_off_shows_what_runs_and_the_rule_under_one_name(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    revision = alice.page.locator("#rules-revision")
    expect(revision).to_have_attribute("title", re.compile("every change to a task, pattern or setting"))
    expect(alice.page.locator("#settings-panel #rules-revision")).to_have_count(0)
    assert seeded.patch("/api/v1/settings", json={"links_enabled": False}).is_success
    row = alice.row(TASK)
    expect(row.locator(".why-killed")).to_have_text("Span links off")
    # Who changed the settings takes a sliver of the strip, not a third of it. Measured once the live
    # update has re-rendered the strip (a box read during the swap is None).
    expect(alice.page.locator("#links-help")).to_contain_text("Off for every task")
    expect(alice.page.locator("#settings-panel .setting-meta")).to_be_visible()
    strip = alice.page.locator("#settings-panel").bounding_box()
    meta = alice.page.locator("#settings-panel .setting-meta").bounding_box()
    assert strip is not None
    assert meta is not None
    assert meta["width"] < strip["width"] / 6, (meta, strip)
    # What runs (parent) and what the rule says (link), never "link" next to "parent".
    expect(row.locator(".mode-label")).to_have_text("parent")
    expect(row.locator(".mode-rule")).to_have_text("rule: link")
    expect(alice.switch(TASK)).to_have_attribute("aria-checked", "true")
    expect(alice.page.locator("#tasks-summary")).to_contain_text("Span links off: every task runs as parent")
    expect(alice.page.locator("#links-help")).to_contain_text("Off for every task")
    assert "kill switch" not in visible_text(alice.page).lower()
    alice.screenshot("span-links-off", full_page=True)


# ------------------------------------------------------------------ filters and sorting


def test_a_filter_keeps_the_sort_and_no_match_names_the_filter(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    # htmx settles a swapped list 20 ms after it pushed the list's URL; on a busy machine a filter can
    # be picked in between. Stretch the settle so that the filter below always is.
    alice.page.evaluate("htmx.config.defaultSettleDelay = 3000")
    alice.page.get_by_role("link", name="Changed").click()
    expect(alice.page).to_have_url(re.compile(r"sort=changed"))
    alice.page.locator("#filter-mode").select_option("link")
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(SEEDED_LINKS)
    expect(alice.page).to_have_url(re.compile(r"sort=changed.*mode=link|mode=link.*sort=changed"))
    expect(alice.page.locator('th[aria-sort="descending"]')).to_contain_text("Changed")
    alice.page.evaluate("htmx.config.defaultSettleDelay = 20")  # htmx wires new links up as it settles
    # The search matches a task, the mode filter excludes it: the message says so.
    alice.page.locator("#task-search").fill("send-email")
    reason = alice.page.locator("#no-match-reason")
    expect(reason).to_have_text("1 task contains “send-email”, but the filter mode link excludes it.")
    alice.page.get_by_role("link", name="Keep the search, drop the filter").click()
    expect(alice.page.locator("tr[data-action-id]")).to_have_count(1)
    expect(alice.page.locator("#filter-mode")).to_have_value("")
    expect(alice.page.locator("#task-search")).to_have_value("send-email")
    alice.page.locator("#task-search").fill("mailer")
    expect(reason).to_contain_text("Nothing known contains “mailer”")


# ------------------------------------------------------------------ density, notices, phones


def test_compact_rows_fit_more_tasks_and_the_choice_stays(
    people: PersonFactory, seeded: httpx.Client
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    toggle = alice.page.get_by_role("button", name="Compact rows")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    comfortable = alice.row(TASK).bounding_box()
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    compact = alice.row(TASK).bounding_box()
    assert comfortable is not None
    assert compact is not None
    print(f"\nrow height: {comfortable['height']:.0f} px, compact {compact['height']:.0f} px")
    # The issue measured 56 px; one line of text and a switch need about 32.
    assert compact["height"] <= 36, (compact, comfortable)
    assert compact["height"] < 0.7 * comfortable["height"], (compact, comfortable)
    # Nothing is pushed out of view: the table does not scroll sideways.
    wrap = alice.page.locator(".table-wrap")
    assert wrap.evaluate("element => element.scrollWidth - element.clientWidth") <= 0
    alice.screenshot("compact")
    alice.page.reload()
    expect(alice.page.get_by_role("button", name="Compact rows")).to_have_attribute("aria-pressed", "true")


def test_notices_do_not_pile_up_and_say_who_changed_what(people: PersonFactory, seeded: httpx.Client) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    # The same person, through the API (as the CLI would): not "You", and one notice that counts.
    changed = [task for task in SEEN if task != "prod_ingest:embed-chunk"]  # that one is link already
    for task in changed:
        assert seeded.put(f"/api/v1/tasks/{task}", json={"mode": "link"}).is_success
    live = alice.page.locator(".notice-live")
    expect(live).to_contain_text("(and 5 earlier changes)")
    expect(live).to_have_count(1)
    expect(live).to_contain_text(f"alice set {changed[-1]} to link (api)")
    assert alice.page.locator(".notice").count() <= 3
    assert "You " not in alice.notices().inner_text()
    # The same refusal twice shows once.
    for _ in range(2):
        alice.page.locator("#new-pattern").fill("no-star")
        alice.page.get_by_role("button", name="Add", exact=True).click()
        expect(alice.page.locator(".notice-error")).to_have_count(1)


def test_patterns_are_one_tap_away_on_a_phone(people: PersonFactory, seeded: httpx.Client) -> None:
    reader = people(viewport=PHONE)
    reader.sign_in(ADMIN_TOKEN)  # the whole task list above the patterns (a read token's is short)
    heading = reader.page.get_by_role("heading", name=re.compile("^Patterns"))
    expect(heading).not_to_be_in_viewport()
    reader.page.get_by_role("link", name="Patterns ↓").click()
    expect(heading).to_be_in_viewport()
    overflow = reader.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    reader.screenshot("phone-patterns")


# ------------------------------------------------------------------ console


def test_the_console_stays_clean_after_a_refusal_and_going_offline(
    people: PersonFactory, seeded: httpx.Client, dashboard: LiveServer
) -> None:
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    for pattern, refusal in (
        ("no-star", "Not saved"),
        ("prod_billing:*", None),
        ("prod_billing:*", "already"),
    ):
        alice.page.locator("#new-pattern").fill(pattern)
        alice.page.get_by_role("button", name="Add", exact=True).click()
        if refusal:
            expect(alice.page.locator(".notice-error").last).to_contain_text(refusal)
        else:
            expect(alice.page.locator("#patterns-panel")).to_contain_text(pattern)
    alice.context.set_offline(True)
    alice.switch(TASK).click()
    expect(alice.notices()).to_contain_text("Could not reach the service")
    alice.page.locator(".notice-close").first.click()
    # The open change stream still delivers; the refresh it asks for cannot reach the service.
    task = "prod_billing:charge-card"
    assert seeded.put(
        f"/api/v1/tasks/{task}", json={"mode": "link"}, headers=auth(SECOND_ADMIN_TOKEN)
    ).is_success
    expect(alice.page.locator(".notice-live")).to_contain_text(f"bob set {task} to link (api)")
    expect(alice.notices()).to_contain_text("Could not reach the service")
    alice.context.set_offline(False)
    dashboard.stop()  # the service goes away: the stream breaks, and so does every request
    expect(alice.page.locator("#live-status")).not_to_have_attribute("data-state", "live", timeout=10000)
    alice.switch(TASK).click()
    expect(alice.notices()).to_contain_text("Could not reach the service")
    # A refresh of the list (what a write's answer or a change event asks for) fails quietly too.
    with alice.page.expect_event("requestfailed"):
        alice.page.evaluate(
            "document.body.dispatchEvent(new CustomEvent('htf-refresh', {detail: {value: ['tasks']}}))"
        )
    assert alice.page_errors == [], alice.page_errors
    # Left aside: Chromium's own line for each refused or failed request, and htmx's log of the
    # same; the page announces those itself. Anything else (a CSP violation, a script error) fails.
    reports = re.compile(
        r"^error: (Failed to load resource: |Response Status Error Code 4\d\d |"
        r"htmx:(afterRequest|sendError), )"
    )
    unexpected = [line for line in alice.console if not reports.match(line)]
    assert unexpected == [], "\n".join(alice.console)

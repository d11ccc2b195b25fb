"""Timed changes on the dashboard in real headless Chromium: "Keep: for 1 h / until…" goes with the next
task, pattern or span-links write, the row says "until 15:00 (in 60 min) then inherited", and the
countdown runs in the page (CSP-safe static script: any violation shows up in the console)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.server.dashboard import SCREENSHOTS, SEEN, TASK, Person, PersonFactory, report_seen
from tests.support.server.live import ADMIN_TOKEN

pytestmark = pytest.mark.timeout(120)

PATTERN = "prod_ingest:*"


@pytest.fixture
def alice(people: PersonFactory, api: httpx.Client, worker_api: httpx.Client) -> Iterator[Person]:
    report_seen(worker_api, SEEN, worker="fanout-worker-7f9c4")
    assert api.put(f"/api/v1/patterns/{PATTERN}", json={"mode": "parent"}).status_code == 200
    person = people()
    person.sign_in(ADMIN_TOKEN)
    yield person
    assert person.console == []
    assert person.page_errors == []


def _until(api: httpx.Client, path: str) -> datetime:
    return datetime.fromisoformat(api.get(path).json()["until"])


def test_keep_for_one_hour_times_the_switch_and_the_row_counts_down(alice: Person, api: httpx.Client) -> None:
    page = alice.page
    page.get_by_label("Keep", exact=True).select_option(label="for 1 h")
    before = datetime.now(UTC)
    alice.switch(TASK).click()
    expect(alice.switch(TASK)).to_have_attribute("aria-checked", "true")
    timed = alice.row(TASK).locator(".timed")
    expect(timed).to_contain_text(re.compile(r"until \d\d:\d\d( [AP]M)? \(in (59|60) min\) then inherited"))
    expect(alice.notices()).to_contain_text(", then inherited")
    until = _until(api, f"/api/v1/tasks/{TASK}")
    assert before + timedelta(minutes=59) < until <= datetime.now(UTC) + timedelta(hours=1)
    assert api.get(f"/api/v1/tasks/{TASK}").json()["reverts_to"] is None
    # The choice went with that one change: the menu is back to "until changed".
    expect(page.get_by_label("Keep", exact=True)).to_have_value("")
    alice.screenshot("timed-row")


def test_the_countdown_runs_and_says_when_it_is_due(alice: Person, api: httpx.Client) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=70)).isoformat(timespec="seconds")
    task = SEEN[0]
    assert api.put(f"/api/v1/tasks/{task}", json={"mode": "link", "until": soon}).status_code == 200
    alice.page.reload()
    left = alice.row(task).locator(".timed .until-left")
    expect(left).to_have_text(re.compile(r"\(in \d+ s\)"))
    first = int(re.findall(r"\d+", left.inner_text())[0])
    # The page counts down by itself, without a request: a second later it shows less.
    expect(left).not_to_have_text(f"(in {first} s)", timeout=5000)
    assert int(re.findall(r"\d+", left.inner_text())[0]) < first
    alice.row(task).scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice.row(task).screenshot(path=str(SCREENSHOTS / "timed-countdown.png"))


def test_keep_until_a_time_on_a_pattern(alice: Person, api: httpx.Client) -> None:
    page = alice.page
    # "until…" takes a time in the browser's zone; the page sends its offset with it.
    page.get_by_label("Keep", exact=True).select_option(label="until…")
    # Two hours on in UTC, then in the local zone: the offset in force then (a DST change may come between).
    local = (datetime.now(UTC) + timedelta(hours=2)).astimezone().replace(second=0, microsecond=0)
    page.get_by_label("Keep until (your time)").fill(local.strftime("%Y-%m-%dT%H:%M"))
    panel = page.locator("#patterns-panel")
    panel.get_by_role("switch", name=f"Span links for pattern {PATTERN}").click()
    expect(panel.locator(".timed")).to_contain_text(re.compile(r"\(in (1 h 59 min|2 h)\) then parent"))
    assert _until(api, f"/api/v1/patterns/{PATTERN}") == local.astimezone(UTC)
    alice.screenshot("timed-pattern", full_page=True)


def test_keep_for_one_hour_on_the_kill_switch_goes_through_its_confirmation(
    alice: Person, api: httpx.Client
) -> None:
    page = alice.page
    page.get_by_label("Keep", exact=True).select_option(label="for 1 h")
    page.get_by_role("switch", name="Span links", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Turn links off").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(alice.notices()).to_contain_text("Span links off for every task, until")
    settings = page.locator("#settings-panel")
    expect(settings.locator(".timed")).to_contain_text(re.compile(r"\(in (59|60) min\) then span links on"))
    body = api.get("/api/v1/settings").json()
    assert (body["links_enabled"], body["reverts_to"]) == (False, True)
    alice.screenshot("timed-kill-switch", full_page=True)


def test_a_bad_time_is_refused_and_changes_nothing(alice: Person, api: httpx.Client) -> None:
    page = alice.page
    page.get_by_label("Keep", exact=True).select_option(label="until…")
    page.get_by_label("Keep until (your time)").fill("2020-01-01T10:00")
    alice.switch(TASK).click()
    expect(alice.notices()).to_contain_text("Not saved: 2020-01-01T10:00:00")
    expect(alice.notices()).to_contain_text("is not in the future")
    assert api.get(f"/api/v1/tasks/{TASK}").json()["mode"] is None
    alice.console.clear()  # the refused request's 422 is logged by the browser; it is the point here


def test_at_until_the_row_goes_back_by_itself(alice: Person, api: httpx.Client) -> None:
    task = SEEN[1]
    # Far enough ahead for the write, the reload and the first look on a busy machine.
    soon = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
    assert api.put(f"/api/v1/tasks/{task}", json={"mode": "link", "until": soon}).status_code == 200
    alice.page.reload()
    expect(alice.row(task).locator(".timed")).to_be_visible()
    expect(alice.switch(task)).to_have_attribute("aria-checked", "true")
    # The service's expiry clock writes the revert; the page gets it as a live change like any other.
    expect(alice.switch(task)).to_have_attribute("aria-checked", "false", timeout=20_000)
    expect(alice.row(task).locator(".timed")).to_have_count(0)
    body = api.get(f"/api/v1/tasks/{task}").json()
    assert (body["mode"], body["until"]) == (None, None)
    [revert, _write] = api.get("/api/v1/audit", params={"key": task}).json()["items"]
    assert revert["actor"] == "expiry:alice"

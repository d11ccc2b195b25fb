"""The Workers page and the reach notice, in real headless Chromium, with real workers
(``AdminServiceProvider``) following the dashboard's service. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server.dashboard import workers as workers_page
from openfeature.evaluation_context import EvaluationContext
from playwright.sync_api import expect

from hatchet_trace_flags import AdminServiceProvider
from hatchet_trace_flags.contract import REVISION_HEADER, SNAPSHOT_PATH, WORKER_REPORT_PATH
from tests.support.server.dashboard import PersonFactory
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer
from tests.support.server.worker_reports import worker_report as report

pytestmark = pytest.mark.timeout(90)


def _revision(api: httpx.Client) -> int:
    return int(api.get(SNAPSHOT_PATH).headers[REVISION_HEADER])


@pytest.fixture
def workers(dashboard: LiveServer) -> Iterator[list[AdminServiceProvider]]:
    """Two real workers following the dashboard's service (registered without OpenFeature: the follower
    is the same)."""
    started: list[AdminServiceProvider] = []
    for number in (1, 2):
        provider = AdminServiceProvider(
            dashboard.url,
            READ_TOKEN,
            persist=False,
            worker_name=f"fanout-worker-{number}",
            poll_interval=0.5,
            resync_interval=0.5,
            report_interval=0.1,
            startup_timeout=5.0,
        )
        provider.initialize(EvaluationContext())
        started.append(provider)
    yield started
    for provider in started:
        provider.shutdown()


def test_the_workers_page_shows_who_applies_which_revision(
    people: PersonFactory, api: httpx.Client, worker_api: httpx.Client, tmp_path: Path
) -> None:
    assert api.put("/api/v1/tasks/prod_billing:charge-card", json={"mode": "link"}).status_code == 200
    revision = _revision(api)
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    # Reported just before the page is read: "just now" means under 5 s, whatever the machine's load.
    assert worker_api.post(WORKER_REPORT_PATH, json=report("billing-worker-1", revision)).status_code == 200
    assert (
        worker_api.post(WORKER_REPORT_PATH, json=report("billing-worker-2", revision - 1)).status_code == 200
    )
    seen = worker_api.post("/api/v1/tasks/seen", json={"worker": "legacy-worker", "action_ids": ["a:b"]})
    assert seen.status_code == 200
    # The page's timers run on a clock the test moves: its 10 s refresh comes when the test says so.
    alice.page.clock.install()
    alice.page.get_by_role("link", name="Workers").click()
    expect(alice.page).to_have_url(f"{alice.base_url}/workers")
    summary = alice.page.locator("#fleet-summary")
    expect(summary).to_have_text(
        f"1 of 3 workers on rev {revision}; 1 behind, last contact just now; 1 on an unknown revision"
    )
    behind = alice.page.locator('tr[data-worker="billing-worker-2"]')
    expect(behind.locator(".state-chip")).to_have_text("behind")
    expect(behind).to_contain_text(f"rev {revision - 1}")
    legacy = alice.page.locator('tr[data-worker="legacy-worker"]')
    expect(legacy.locator(".state-chip")).to_have_text("unknown revision")
    expect(alice.page.locator("tbody tr").first).to_have_attribute("data-worker", "billing-worker-2")
    alice.page.screenshot(path=str(tmp_path / "workers-page.png"), full_page=True)
    assert (tmp_path / "workers-page.png").stat().st_size > 0

    # The page follows the fleet by itself: the worker behind catches up.
    assert worker_api.post(WORKER_REPORT_PATH, json=report("billing-worker-2", revision)).status_code == 200
    alice.page.clock.fast_forward(10_000)
    expect(summary).to_have_text(f"2 of 3 workers on rev {revision}; 1 on an unknown revision")
    expect(behind.locator(".state-chip")).to_have_text("current")
    assert alice.console == [], alice.console  # nothing refused by the CSP, no script error
    assert alice.page_errors == []


def test_a_dashboard_write_says_how_far_it_reached(
    people: PersonFactory,
    api: httpx.Client,
    worker_api: httpx.Client,
    workers: list[AdminServiceProvider],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert worker_api.post(
        "/api/v1/tasks/seen", json={"worker": "fanout-worker-1", "action_ids": ["prod_billing:charge-card"]}
    )
    alice = people()
    alice.sign_in(ADMIN_TOKEN)
    task = "prod_billing:charge-card"
    alice.switch(task).click()
    expect(alice.switch(task)).to_have_attribute("aria-checked", "true")
    revision = _revision(api)
    reach = alice.page.locator(".notice-reach")
    expect(reach).to_have_text(
        re.compile(rf"Rev {revision} reached 2/2 workers in \d+\.\d s\."), timeout=15_000
    )
    alice.page.screenshot(path=str(tmp_path / "reach-complete.png"))
    assert (tmp_path / "reach-complete.png").stat().st_size > 0
    assert [provider.revision for provider in workers] == [revision, revision]

    # A worker that stays on an old revision: the notice gives up and says how far it got. It follows a
    # write for 10 s; 3 from here on (the server runs in this process), so giving up costs the test 3 s.
    monkeypatch.setattr(workers_page, "REACH_FOLLOW", timedelta(seconds=3))
    stuck = report("stuck-worker", revision)
    assert worker_api.post(WORKER_REPORT_PATH, json=stuck).status_code == 200
    alice.switch(task).click()
    expect(alice.switch(task)).to_have_attribute("aria-checked", "false")
    later = _revision(api)
    expect(reach).to_have_text(re.compile(rf"Rev {later}: 2/3 workers after [3-9] s\."), timeout=20_000)
    alice.page.screenshot(path=str(tmp_path / "reach-partial.png"))
    assert alice.console == [], alice.console
    assert alice.page_errors == []

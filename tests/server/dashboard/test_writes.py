"""What a dashboard write answers with: the row, strip or list as the write left it, taken from what
the service layer returned (nothing is read back), and the revision the write made."""

from __future__ import annotations

import httpx

from tests.support.server.dashboard import BrowserFactory, report_seen
from tests.support.server.live import ADMIN_TOKEN

REPORTED = "prod_fanout-worker:process-item"
CONFIGURED_ONLY = "prod_fanout-worker:never-reported"


def _set_mode(browser: httpx.Client, csrf: str, action_id: str, mode: str, version: int) -> httpx.Response:
    return browser.request(
        "POST",
        "/ui/tasks/mode",
        headers={"HX-Request": "true"},
        data={"action_id": action_id, "mode": mode, "version": str(version), "csrf_token": csrf},
    )


def test_clearing_a_reported_task_keeps_its_row_with_the_inherited_mode(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [REPORTED])
    browser = http_browser(ADMIN_TOKEN)
    assert _set_mode(browser, browser.csrf, REPORTED, "link", 0).status_code == 200

    cleared = _set_mode(browser, browser.csrf, REPORTED, "inherit", 1)

    assert cleared.status_code == 200, cleared.text
    assert REPORTED in cleared.text
    assert 'aria-checked="false"' in cleared.text  # parent, from the default
    assert int(cleared.headers["X-Change-Revision"]) == 2


def test_clearing_a_task_no_worker_reported_takes_it_off_the_list(
    http_browser: BrowserFactory, api: httpx.Client
) -> None:
    browser = http_browser(ADMIN_TOKEN)
    set_ = _set_mode(browser, browser.csrf, CONFIGURED_ONLY, "link", 0)
    assert set_.status_code == 200
    assert CONFIGURED_ONLY in set_.text

    cleared = _set_mode(browser, browser.csrf, CONFIGURED_ONLY, "inherit", 1)

    # The list shows configured or reported tasks; this one is neither now, so its row goes.
    assert cleared.status_code == 200, cleared.text
    assert cleared.text == ""
    assert "follows patterns and the default again" in cleared.headers["HX-Trigger"]
    assert int(cleared.headers["X-Change-Revision"]) == 2
    listed = api.get("/api/v1/tasks").json()
    assert CONFIGURED_ONLY not in [task["action_id"] for task in listed["items"]]


def test_a_settings_write_shows_the_version_it_wrote(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    response = browser.request(
        "POST",
        "/ui/settings/default",
        headers={"HX-Request": "true"},
        data={"default": "link", "version": "0", "csrf_token": browser.csrf},
    )
    assert response.status_code == 200, response.text
    settings = api.get("/api/v1/settings").json()
    assert (settings["default"], settings["version"]) == ("link", 1)
    # The strip's forms carry the version just written, so the next change is based on it.
    assert 'name="version" value="1"' in response.text
    assert int(response.headers["X-Change-Revision"]) == 1

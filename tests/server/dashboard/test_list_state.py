"""What the task list tells the page over HTTP (issue 13): the rules' revision on every write and
list fragment, conflicts included, and a no-match message that names what excludes the rows."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server.dashboard import BrowserFactory, report_seen
from tests.support.server.live import ADMIN_TOKEN, SECOND_ADMIN_TOKEN, auth

TASK = "prod_billing:send-email"


def rules_revision(api: httpx.Client) -> int:
    return int(api.get("/api/v1/snapshot").headers["X-Rules-Revision"])


def test_writes_and_the_list_carry_the_rules_revision(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    saved = browser.htmx(
        "POST",
        "/ui/tasks/mode",
        data={"action_id": TASK, "mode": "link", "version": "0", "csrf_token": browser.csrf},
    )
    assert saved.status_code == 200
    assert int(saved.headers["X-Rules-Revision"]) == rules_revision(api)
    assert api.put(
        f"/api/v1/tasks/{TASK}", json={"mode": "parent"}, headers=auth(SECOND_ADMIN_TOKEN)
    ).is_success
    stale = browser.htmx(
        "POST",
        "/ui/tasks/mode",
        data={"action_id": TASK, "mode": "link", "version": "1", "csrf_token": browser.csrf},
    )
    assert stale.status_code == 412
    # The page that sent the stale version learns how far the rules have moved.
    assert int(stale.headers["X-Rules-Revision"]) == rules_revision(api) == 2
    listed = browser.htmx("GET", "/ui/tasks", headers={"X-HTF-Refresh": "1"})
    assert int(listed.headers["X-Rules-Revision"]) == 2


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            {"q": "send-email", "mode": "link"},
            "1 task contains “<strong>send-email</strong>”, but the filter",
        ),
        (
            {"q": "prod_billing", "mode": "link", "source": "own"},
            "2 tasks contain “<strong>prod_billing</strong>”, but the filters <strong>mode link, own setting",
        ),
        (
            {"q": "mailer", "mode": "link"},
            "Nothing known contains “<strong>mailer</strong>” (whatever the filters)",
        ),
        ({"mode": "link", "source": "own"}, "No task has mode link and own setting."),
    ],
)
def test_no_match_names_what_excludes_the_rows(
    http_browser: BrowserFactory, worker_api: httpx.Client, query: dict[str, str], reason: str
) -> None:
    report_seen(worker_api, ["prod_billing:charge-card", TASK])
    browser = http_browser(ADMIN_TOKEN)
    listed = browser.htmx("GET", "/ui/tasks", params=query)
    assert listed.status_code == 200
    assert "No task matches" in listed.text
    assert reason in listed.text

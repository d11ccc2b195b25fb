"""The dashboard addresses every name Hatchet can produce (issue 27, section 2): a mode set from its
row lands on that task, and the row's history link opens that task's history, whatever characters
the name holds."""

from __future__ import annotations

import html
import re

import httpx

from tests.support.server.dashboard import BrowserFactory, report_seen
from tests.support.server.live import ADMIN_TOKEN

VICTIM = "wf:victim"
NAMES = [
    f"{VICTIM}/insights/dismissal",
    f"{VICTIM}/insights",
    "wf:a?b#c&d=e",
    "wf:100%2F+1",
    "wf:a/../b",
    "..",
]
_HISTORY_LINK = re.compile(r'href="(/ui/tasks/history\?action_id=[^"]*)"')


def test_each_name_gets_its_own_mode_and_history(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [VICTIM, *NAMES])
    browser = http_browser(ADMIN_TOKEN)
    for name in NAMES:
        row = browser.htmx(
            "POST",
            "/ui/tasks/mode",
            data={"action_id": name, "mode": "link", "version": "0", "csrf_token": browser.csrf},
        )
        assert row.status_code == 200, (name, row.text)
        links = _HISTORY_LINK.findall(row.text)
        assert len(links) == 1, row.text
        history = browser.htmx("GET", html.unescape(links[0]))
        assert history.status_code == 200, (name, history.text)
        assert f'data-history-key="{html.escape(name)}"' in history.text, (name, history.text)
    configured = api.get("/api/v1/snapshot").json()["tasks"]
    assert configured == dict.fromkeys(NAMES, "link")  # and nothing for VICTIM

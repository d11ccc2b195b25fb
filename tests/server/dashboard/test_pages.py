"""The dashboard over plain HTTP: sign-in, CSRF, conflicts, bad input, read-only, paging at scale.

Every response these clients receive is checked for leaked tokens (see ``conftest._scan``).
"""

from __future__ import annotations

import re
import time
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.support.server.dashboard import BrowserFactory, assert_no_token, csrf_of, report_seen
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, SECOND_ADMIN_TOKEN, LiveServer, auth

TASK = "prod_fanout-worker:process-item"


def revision(api: httpx.Client) -> int:
    return int(api.get("/api/v1/snapshot").headers["X-Rules-Revision"])


def task_mode(api: httpx.Client, action_id: str) -> str | None:
    response = api.get(f"/api/v1/tasks/{action_id}")
    assert response.status_code == 200, response.text
    mode: str | None = response.json()["mode"]
    return mode


# ------------------------------------------------------------------ signing in


def test_pages_need_a_session(http_browser: BrowserFactory) -> None:
    anonymous = http_browser()
    page = anonymous.get("/")
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in"
    fragment = anonymous.htmx("GET", "/ui/tasks")
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/sign-in"
    write = anonymous.post("/ui/tasks/mode", data={"action_id": TASK, "mode": "link", "version": "0"})
    assert write.status_code == 303


def test_sign_in_sets_a_strict_http_only_cookie_without_the_token(http_browser: BrowserFactory) -> None:
    browser = http_browser()
    response = browser.sign_in(ADMIN_TOKEN)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    session = cookies["htf_session"]
    assert session["httponly"] is True
    assert session["samesite"].lower() == "strict"
    assert session["path"] == "/"
    assert int(session["max-age"]) > 0
    assert ADMIN_TOKEN not in session.value
    page = browser.get("/")
    assert page.status_code == 200
    assert ">alice<" in page.text
    assert "Sign out" in page.text


def test_a_wrong_token_is_refused_and_never_echoed(http_browser: BrowserFactory) -> None:
    browser = http_browser()
    form = browser.get("/sign-in")
    nonce = re.search(r'name="signin_nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    typed = "alice-admin-secreT-typo"
    response = browser.post("/sign-in", data={"token": typed, "signin_nonce": nonce.group(1)})
    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert typed not in response.text
    assert "htf_session" not in response.headers.get("set-cookie", "")
    assert browser.get("/").status_code == 303


def test_sign_in_form_is_protected_against_cross_site_posts(http_browser: BrowserFactory) -> None:
    browser = http_browser()
    # No double-submit cookie/field pair: a form on another site cannot sign a victim in.
    response = browser.post("/sign-in", data={"token": ADMIN_TOKEN, "signin_nonce": "forged"})
    assert response.status_code == 403
    assert "htf_session" not in response.headers.get("set-cookie", "")


def test_sign_out_needs_the_csrf_token_and_ends_the_session(http_browser: BrowserFactory) -> None:
    browser = http_browser(ADMIN_TOKEN)
    assert browser.post("/sign-out").status_code == 403
    assert browser.get("/").status_code == 200
    response = browser.post("/sign-out", data={"csrf_token": browser.csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"
    assert browser.get("/").status_code == 303


def test_a_tampered_cookie_is_signed_out(http_browser: BrowserFactory, dashboard: LiveServer) -> None:
    browser = http_browser(ADMIN_TOKEN)
    value = browser.cookies["htf_session"]
    forged = http_browser()
    forged.cookies.set("htf_session", value[:-2] + "xx", domain="127.0.0.1")
    assert forged.get("/").status_code == 303


# ------------------------------------------------------------------ CSRF and the JSON API


def test_the_session_cookie_reads_the_api_but_writes_need_the_csrf_header(
    http_browser: BrowserFactory, api: httpx.Client
) -> None:
    browser = http_browser(ADMIN_TOKEN)
    assert browser.get("/api/v1/tasks").status_code == 200
    refused = browser.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert api.get(f"/api/v1/tasks/{TASK}").status_code == 404  # nothing was written
    accepted = browser.put(
        f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers={"X-CSRF-Token": browser.csrf}
    )
    assert accepted.status_code == 200
    assert api.get("/api/v1/audit", params={"key": TASK}).json()["items"][0]["actor"] == "alice"


def test_a_forged_text_plain_import_is_rejected(http_browser: BrowserFactory, api: httpx.Client) -> None:
    """What a cross-site ``<form enctype="text/plain">`` can send: valid JSON with the victim's cookie."""
    browser = http_browser(ADMIN_TOKEN)
    before = revision(api)
    forged = browser.post(
        "/api/v1/import",
        content=b'{"version": 1, "default": "link", "x": "="}',
        headers={"Content-Type": "text/plain"},
    )
    assert forged.status_code == 403
    assert revision(api) == before


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/ui/tasks/mode", {"action_id": TASK, "mode": "link", "version": "0"}),
        ("/ui/patterns", {"pattern": "prod_*", "mode": "link"}),
        ("/ui/settings/links", {"links_enabled": "false", "version": "0", "confirm": "yes"}),
        ("/ui/settings/default", {"default": "link", "version": "0"}),
    ],
)
def test_dashboard_writes_without_the_csrf_token_change_nothing(
    http_browser: BrowserFactory, api: httpx.Client, path: str, data: dict[str, str]
) -> None:
    browser = http_browser(ADMIN_TOKEN)
    before = revision(api)
    for attempt in ({}, {"csrf_token": "wrong"}):
        response = browser.post(path, data={**data, **attempt})
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert revision(api) == before


# ------------------------------------------------------------------ tasks


@pytest.mark.parametrize("version", ["²", "٣", "1²", "-1", "1e3", " "])
def test_a_version_that_is_not_ascii_digits_is_a_422(
    http_browser: BrowserFactory, api: httpx.Client, version: str
) -> None:
    # "²".isdigit() is True and int("²") raises: this was a 500 (issue 12).
    browser = http_browser(ADMIN_TOKEN)
    data = {"action_id": TASK, "mode": "link", "version": version, "csrf_token": browser.csrf}
    assert browser.htmx("POST", "/ui/tasks/mode", data=data).status_code == 422
    assert browser.get("/", params={"page": "²"}).status_code == 400
    assert api.get(f"/api/v1/tasks/{TASK}").status_code == 404


def test_writes_from_another_origin_are_refused_even_with_the_csrf_token(
    http_browser: BrowserFactory, api: httpx.Client, dashboard: LiveServer
) -> None:
    browser = http_browser(ADMIN_TOKEN)
    data = {"action_id": TASK, "mode": "link", "version": "0", "csrf_token": browser.csrf}
    for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = browser.htmx("POST", "/ui/tasks/mode", data=data, headers=foreign)
        assert refused.status_code == 403
        api_write = browser.put(
            f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers={"X-CSRF-Token": browser.csrf, **foreign}
        )
        assert api_write.status_code == 403
        assert "Origin" in api_write.json()["detail"]
    assert api.get(f"/api/v1/tasks/{TASK}").status_code == 404
    same = browser.htmx("POST", "/ui/tasks/mode", data=data, headers={"Origin": dashboard.url})
    assert same.status_code == 200


def test_toggle_sets_the_mode_through_the_store_with_actor_and_note(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    response = browser.htmx(
        "POST",
        "/ui/tasks/mode",
        data={
            "action_id": TASK,
            "mode": "link",
            "version": "0",
            "note": "own traces",
            "csrf_token": browser.csrf,
        },
    )
    assert response.status_code == 200
    assert 'aria-checked="true"' in response.text
    assert "now starts a new trace" in response.headers["HX-Trigger"]
    assert int(response.headers["X-Change-Revision"]) == revision(api)
    task = api.get(f"/api/v1/tasks/{TASK}").json()
    assert (task["mode"], task["effective_mode"], task["note"], task["updated_by"]) == (
        "link",
        "link",
        "own traces",
        "alice",
    )
    event = api.get("/api/v1/audit", params={"key": TASK}).json()["items"][0]
    assert (event["actor"], event["source"], event["after"]["mode"]) == ("alice", "dashboard", "link")

    reset = browser.htmx(
        "POST",
        "/ui/tasks/mode",
        data={"action_id": TASK, "mode": "inherit", "version": "1", "csrf_token": browser.csrf},
    )
    assert reset.status_code == 200
    assert task_mode(api, TASK) is None


def test_a_stale_version_gets_412_with_the_current_row_and_overwrites_nothing(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    page = browser.get("/")
    assert f'data-action-id="{TASK}" data-mode="parent" data-version="0"' in page.text
    # bob changes it through the API after alice's page was rendered
    assert (
        api.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers=auth(SECOND_ADMIN_TOKEN)).status_code
        == 200
    )
    response = browser.htmx(
        "POST",
        "/ui/tasks/mode",
        data={"action_id": TASK, "mode": "parent", "version": "0", "csrf_token": browser.csrf},
    )
    assert response.status_code == 412
    assert "is-conflict" in response.text
    assert 'data-mode="link" data-version="1"' in response.text
    notice = response.headers["HX-Trigger"]
    assert "Not saved" in notice
    assert "bob" in notice
    assert task_mode(api, TASK) == "link"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action_id": TASK, "mode": "sideways", "version": "0"}, "mode must be"),
        ({"action_id": "has space:task", "mode": "link", "version": "0"}, "whitespace"),
        ({"action_id": "wild*card", "mode": "link", "version": "0"}, "must not contain"),
        ({"action_id": TASK, "mode": "link", "version": "one"}, "version must be"),
        ({"action_id": TASK, "mode": "link"}, "Missing version"),
        ({"mode": "link", "version": "0"}, "Missing action_id"),
        ({"action_id": TASK, "mode": "link", "version": "0", "note": "bad\x00note"}, "control"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    http_browser: BrowserFactory, api: httpx.Client, data: dict[str, str], message: str
) -> None:
    browser = http_browser(ADMIN_TOKEN)
    before = revision(api)
    response = browser.htmx("POST", "/ui/tasks/mode", data={**data, "csrf_token": browser.csrf})
    assert response.status_code == 422
    assert message in response.headers["HX-Trigger"]
    assert revision(api) == before
    page = browser.post("/ui/tasks/mode", data={**data, "csrf_token": browser.csrf})  # without scripts
    assert page.status_code == 422
    assert message in page.text


def test_plain_form_posts_work_without_scripts(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    response = browser.post(
        "/ui/tasks/mode",
        data={
            "action_id": TASK,
            "mode": "link",
            "version": "0",
            "csrf_token": browser.csrf,
            "return_to": "/?q=fanout",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?q=fanout"
    page = browser.get(response.headers["location"])
    assert "now starts a new trace with a span link" in page.text  # the notice, once
    assert "now starts a new trace" not in browser.get("/").text
    assert task_mode(api, TASK) == "link"
    # return_to never leaves the site
    offsite = browser.post(
        "/ui/tasks/mode",
        data={
            "action_id": TASK,
            "mode": "parent",
            "version": "1",
            "csrf_token": browser.csrf,
            "return_to": "//evil.example/",
        },
    )
    assert offsite.headers["location"] == "/"


def test_history_lists_who_when_before_after_and_note(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    assert (
        api.put(f"/api/v1/tasks/{TASK}", json={"mode": "link", "note": "fan-out is huge"}).status_code == 200
    )
    bob = {**auth(SECOND_ADMIN_TOKEN), "X-Change-Source": "cli"}
    assert (
        api.put(
            f"/api/v1/tasks/{TASK}", json={"mode": "parent", "note": "debugging"}, headers=bob
        ).status_code
        == 200
    )
    browser = http_browser(ADMIN_TOKEN)  # history is admin-only, as GET /api/v1/audit is
    fragment = browser.htmx("GET", "/ui/tasks/history", params={"action_id": TASK})
    assert fragment.status_code == 200
    text = re.sub(r"\s+", " ", fragment.text)
    assert text.index(">bob<") < text.index(">alice<")  # newest first
    assert "via cli" in text
    link_to_parent = r'mode-link">link</span> <span class="arrow"[^>]*>→</span> <span[^>]*mode-parent">parent'
    assert re.search(link_to_parent, text)
    assert "inherited</span>" in text
    assert "fan-out is huge" in text
    assert "debugging" in text
    page = browser.get("/ui/tasks/history", params={"action_id": TASK})  # without scripts: a whole page
    assert "<html" in page.text
    assert "debugging" in page.text
    assert browser.htmx("GET", "/ui/tasks/history", params={"action_id": "nobody:knows"}).status_code == 404


# ------------------------------------------------------------------ read-only


def test_read_tokens_get_a_read_only_page(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    assert api.put("/api/v1/patterns/prod_*", json={"mode": "link"}).status_code == 200
    assert api.put(f"/api/v1/tasks/{TASK}", json={"mode": "parent"}).status_code == 200
    reader = http_browser(READ_TOKEN)
    page = reader.get("/")
    assert page.status_code == 200
    assert "Read-only." in page.text
    assert TASK in page.text  # a configured task: in the rule set a read token reads
    for write_route in ("/ui/tasks/mode", "/ui/patterns", "/ui/settings/links", "/ui/settings/default"):
        assert f'action="{write_route}"' not in page.text
    assert 'aria-disabled="true"' in page.text
    before = revision(api)
    refused = reader.htmx(
        "POST",
        "/ui/tasks/mode",
        data={"action_id": TASK, "mode": "link", "version": "1", "csrf_token": reader.csrf},
    )
    assert refused.status_code == 403
    assert "Read-only" in refused.headers["HX-Trigger"]
    api_write = reader.put(
        f"/api/v1/tasks/{TASK}", json={"mode": "link"}, headers={"X-CSRF-Token": reader.csrf}
    )
    assert api_write.status_code == 403
    assert revision(api) == before


# ------------------------------------------------------------------ patterns and settings


def test_patterns_add_change_remove(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    csrf = {"csrf_token": browser.csrf}
    added = browser.htmx(
        "POST", "/ui/patterns", data={"pattern": "prod_fanout-worker:*", "mode": "link", **csrf}
    )
    assert added.status_code == 200
    assert "prod_fanout-worker:*" in added.text
    assert "tasks" in added.headers["HX-Trigger"]  # the table is told to refresh
    assert api.get(f"/api/v1/tasks/{TASK}").json()["reason"] == "pattern"
    again = browser.htmx(
        "POST", "/ui/patterns", data={"pattern": "prod_fanout-worker:*", "mode": "parent", **csrf}
    )
    assert again.status_code == 409
    assert "already exists" in again.headers["HX-Trigger"]
    bad = browser.htmx("POST", "/ui/patterns", data={"pattern": "no-star", "mode": "link", **csrf})
    assert bad.status_code == 422
    changed = browser.htmx(
        "POST",
        "/ui/patterns/mode",
        data={"pattern": "prod_fanout-worker:*", "mode": "parent", "version": "1", **csrf},
    )
    assert changed.status_code == 200
    assert api.get("/api/v1/patterns/prod_fanout-worker:*").json()["mode"] == "parent"
    stale = browser.htmx(
        "POST", "/ui/patterns/remove", data={"pattern": "prod_fanout-worker:*", "version": "1", **csrf}
    )
    assert stale.status_code == 412
    removed = browser.htmx(
        "POST", "/ui/patterns/remove", data={"pattern": "prod_fanout-worker:*", "version": "2", **csrf}
    )
    assert removed.status_code == 200
    assert api.get("/api/v1/patterns/prod_fanout-worker:*").json()["mode"] is None


def test_the_kill_switch_asks_first(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    asked = browser.htmx(
        "POST",
        "/ui/settings/links",
        data={"links_enabled": "false", "version": "0", "csrf_token": browser.csrf},
    )
    assert asked.status_code == 200
    assert asked.headers["HX-Retarget"] == "#dialog-slot"
    assert "Turn off span links for every task?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    page = browser.post(
        "/ui/settings/links", data={"links_enabled": "false", "version": "0", "csrf_token": browser.csrf}
    )
    assert page.status_code == 200
    assert "<html" in page.text
    assert api.get("/api/v1/settings").json()["links_enabled"] is True
    done = browser.htmx(
        "POST",
        "/ui/settings/links",
        data={"links_enabled": "false", "version": "0", "confirm": "yes", "csrf_token": browser.csrf},
    )
    assert done.status_code == 200
    assert api.get("/api/v1/settings").json()["links_enabled"] is False
    assert "<strong>Off</strong> for every task" in browser.get("/").text


def test_default_mode(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    response = browser.htmx(
        "POST", "/ui/settings/default", data={"default": "link", "version": "0", "csrf_token": browser.csrf}
    )
    assert response.status_code == 200
    assert 'id="default-link" class="segment" aria-pressed="true"' in response.text
    assert api.get("/api/v1/settings").json()["default"] == "link"
    stale = browser.htmx(
        "POST", "/ui/settings/default", data={"default": "parent", "version": "0", "csrf_token": browser.csrf}
    )
    assert stale.status_code == 412
    assert api.get("/api/v1/settings").json()["default"] == "link"


# ------------------------------------------------------------------ the list at scale


def test_thousands_of_tasks_page_search_filter_and_sort(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    action_ids = [f"ns_wf-{index // 100:02d}:task-{index:04d}" for index in range(2500)]
    report_seen(worker_api, action_ids)
    assert api.put("/api/v1/patterns/ns_wf-03:*", json={"mode": "link"}).status_code == 200
    browser = http_browser(ADMIN_TOKEN)

    def rows(path: str, **params: str) -> list[str]:
        response = browser.htmx("GET", path, params=params)
        assert response.status_code == 200, response.text
        return re.findall(r'data-action-id="([^"]+)"', response.text)

    started = time.perf_counter()
    first = browser.get("/")
    elapsed = time.perf_counter() - started
    print(f"\nfirst page of 2,500 tasks: {elapsed * 1000:.0f} ms, {len(first.content) / 1024:.0f} KiB")
    assert "<strong>2,500</strong> tasks" in first.text
    assert "Page 1 of 50" in first.text
    assert rows("/ui/tasks", page="2") == action_ids[50:100]
    assert rows("/ui/tasks", page="999") == action_ids[-50:]  # past the end: the last page
    assert rows("/ui/tasks", sort="name", order="desc")[0] == action_ids[-1]
    searched = rows("/ui/tasks", q="TASK-012")  # case-insensitive substring
    assert searched == [f"ns_wf-01:task-012{digit}" for digit in range(10)]
    linked = rows("/ui/tasks", mode="link")
    assert linked == action_ids[300:350]
    api_total = api.get("/api/v1/tasks", params={"mode": "link"}).json()["total"]
    assert (
        f"<strong>{api_total}</strong> tasks match"
        in browser.htmx("GET", "/ui/tasks", params={"mode": "link"}).text
    )
    assert browser.htmx("GET", "/ui/tasks", params={"source": "own"}).text.count("data-action-id") == 0
    api.put(f"/api/v1/tasks/{action_ids[7]}", json={"mode": "link"})
    assert rows("/ui/tasks", sort="changed")[0] == action_ids[7]
    fragment = browser.htmx("GET", "/ui/tasks", params={"q": "wf-01", "sort": "seen"})
    assert fragment.headers["HX-Push-Url"] == "/?q=wf-01&sort=seen"
    refresh = browser.htmx("GET", "/ui/tasks", params={"q": "wf-01"}, headers={"X-HTF-Refresh": "1"})
    assert "HX-Push-Url" not in refresh.headers
    for bad in ({"sort": "random"}, {"order": "up"}, {"page": "0"}, {"mode": "both"}, {"q": "x" * 256}):
        response = browser.htmx("GET", "/ui/tasks", params=bad)
        assert response.status_code == 400, bad


def test_a_new_service_explains_how_tasks_get_there(http_browser: BrowserFactory) -> None:
    page = http_browser(ADMIN_TOKEN).get("/")
    assert "No tasks yet" in page.text
    assert "/api/v1/tasks/seen" in page.text
    assert "hatchet-trace-flags tasks set" in page.text


# ------------------------------------------------------------------ what the pages are made of


def test_pages_load_nothing_from_elsewhere_and_forbid_inline_code(http_browser: BrowserFactory) -> None:
    browser = http_browser(ADMIN_TOKEN)
    for path in ("/", "/sign-in"):
        response = browser.get(path) if path == "/" else http_browser().get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', response.text)
        assert "<script>" not in response.text
        assert " style=" not in response.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text):
            assert browser.get(asset).status_code == 200


def test_no_dashboard_response_embeds_a_token(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    """Every page, fragment, redirect and error, for admin and read sessions; the hook fails on a token."""
    report_seen(worker_api, [TASK])
    api.put("/api/v1/patterns/prod_*", json={"mode": "link"})
    for token in (ADMIN_TOKEN, READ_TOKEN):
        browser = http_browser(token)
        csrf = browser.csrf
        for path in ("/", "/?q=prod&sort=seen", "/sign-in", "/ui/tasks", "/ui/patterns", "/ui/settings"):
            browser.get(path)
            browser.htmx("GET", path)
        browser.htmx("GET", "/ui/tasks/history", params={"action_id": TASK})
        browser.get("/ui/tasks/history", params={"action_id": TASK})
        browser.htmx(
            "POST",
            "/ui/tasks/mode",
            data={"action_id": TASK, "mode": "link", "version": "0", "csrf_token": csrf},
        )
        browser.post(
            "/ui/tasks/mode", data={"action_id": TASK, "mode": "bogus", "version": "0", "csrf_token": csrf}
        )
        browser.htmx(
            "POST", "/ui/settings/links", data={"links_enabled": "false", "version": "0", "csrf_token": csrf}
        )
        page = browser.get("/")
        assert_no_token(page.text, "the page")
        assert csrf_of(page.text) == csrf
    assert_no_token(str(dict(http_browser().get("/sign-in").headers)), "sign-in headers")
    # The change stream the page follows, replayed from the start with the session cookie.
    with (
        httpx.Client(base_url=browser.base_url, cookies=browser.cookies, timeout=10) as plain,
        plain.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "0"}) as stream,
    ):
        assert stream.status_code == 200
        received = ""
        for line in stream.iter_lines():
            received += line + "\n"
            if received.count("event: change") == revision(api):
                break
    assert_no_token(received, "the change stream")


def test_forget_drops_a_discovered_task_and_keeps_a_configured_one(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK, "other:kept"])
    assert api.put("/api/v1/tasks/other:kept", json={"mode": "link"}).status_code == 200
    browser = http_browser(ADMIN_TOKEN)
    assert f'aria-label="Forget discovered task {TASK}"' in browser.get("/").text

    gone = browser.htmx("POST", "/ui/tasks/forget", data={"action_id": TASK, "csrf_token": browser.csrf})
    assert gone.status_code == 200
    assert gone.text == ""  # the row leaves the list
    assert "is forgotten" in gone.headers["HX-Trigger"]
    assert api.get(f"/api/v1/tasks/{TASK}").status_code == 404

    kept = browser.htmx(
        "POST", "/ui/tasks/forget", data={"action_id": "other:kept", "csrf_token": browser.csrf}
    )
    assert kept.status_code == 200
    assert "not reported" in kept.text  # still listed: it has a mode of its own
    assert api.get("/api/v1/tasks/other:kept").json()["mode"] == "link"

    assert browser.post("/ui/tasks/forget", data={"action_id": "x:y"}).status_code == 403  # no CSRF token
    bad = browser.htmx(
        "POST", "/ui/tasks/forget", data={"action_id": "has space", "csrf_token": browser.csrf}
    )
    assert bad.status_code == 422
    reader = http_browser(READ_TOKEN)
    assert 'aria-label="Forget discovered task' not in reader.get("/").text
    assert (
        reader.htmx(
            "POST", "/ui/tasks/forget", data={"action_id": "x:y", "csrf_token": reader.csrf}
        ).status_code
        == 403
    )


# ------------------------------------------------------------------ one scope model


def test_a_read_session_sees_what_the_api_gives_a_read_token_and_nothing_more(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client, dashboard: LiveServer
) -> None:
    """The API gives a read token the rule set (GET /api/v1/snapshot); the task list, history,
    notes, authors, settings' changes and insights are admin-only. A read-token session sees the
    configured tasks and patterns with their modes, the default and the kill switch, nothing else."""
    report_seen(worker_api, ["prod_discovered:only"], worker="worker-secret-host")
    note = {"mode": "link", "note": "secret-note-7"}
    assert api.put(f"/api/v1/tasks/{TASK}", json=note, headers=auth(SECOND_ADMIN_TOKEN)).status_code == 200
    assert (
        api.put("/api/v1/patterns/prod_*", json={"mode": "link", "note": "pattern-note-7"}).status_code == 200
    )
    assert (
        api.patch("/api/v1/settings", json={"default": "parent", "note": "settings-note-7"}).status_code
        == 200
    )
    secrets = (
        "secret-note-7",
        "pattern-note-7",
        "settings-note-7",
        "prod_discovered:only",
        "worker-secret-host",
        ">bob<",
    )
    with httpx.Client(base_url=dashboard.url, headers=auth(READ_TOKEN)) as read_token:
        snapshot = read_token.get("/api/v1/snapshot").json()
        for admin_only in (
            "/api/v1/tasks",
            f"/api/v1/tasks/{TASK}",
            "/api/v1/audit",
            "/api/v1/settings",
            "/api/v1/insights",
        ):
            assert read_token.get(admin_only).status_code == 403, admin_only
    assert snapshot["tasks"] == {TASK: "link"}

    reader = http_browser(READ_TOKEN)
    readable = {
        "/": reader.get("/"),
        "/ui/tasks": reader.htmx("GET", "/ui/tasks"),
        "/ui/tasks?sort=seen": reader.htmx("GET", "/ui/tasks", params={"sort": "seen"}),
        "/ui/tasks?source=inherited": reader.htmx("GET", "/ui/tasks", params={"source": "inherited"}),
        "/ui/patterns": reader.htmx("GET", "/ui/patterns"),
        "/ui/settings": reader.htmx("GET", "/ui/settings"),
    }
    for path, response in readable.items():
        assert response.status_code == 200, path
        for secret in secrets:
            assert secret not in response.text, (path, secret)
    assert TASK in readable["/"].text
    assert "prod_*" in readable["/"].text
    for path in ("/ui/tasks/history?action_id=" + TASK, "/insights"):
        refused = reader.get(path)
        assert refused.status_code == 403, path
        assert "read token" in refused.text
        for secret in secrets:
            assert secret not in refused.text, (path, secret)
    # The admin's view of the same pages still has all of it.
    admin_page = http_browser(ADMIN_TOKEN).get("/").text
    assert "secret-note-7" in admin_page
    assert "prod_discovered:only" in admin_page


def test_a_look_alike_name_is_marked_with_what_tells_it_apart(
    http_browser: BrowserFactory, worker_api: httpx.Client
) -> None:
    fake = "prod_fanout-w\u043erker:process-item"  # a Cyrillic o: renders like TASK's worker name
    report_seen(worker_api, [TASK, fake])
    page = http_browser(ADMIN_TOKEN).get("/").text
    rows = dict(re.findall(r'<tr id="task-([^"]+)"(.*?)</tr>', page, flags=re.S))
    marked = [row for row in rows.values() if "look-alike" in row]
    assert len(marked) == 1
    assert "prod_fanout-w\\u043erker:process-item" in marked[0]  # the escape shows the odd letter
    assert "Cyrillic, Latin" in marked[0]

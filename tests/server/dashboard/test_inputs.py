"""The dashboard's form and query models: a refused field gets the dashboard's own answer (an HTML
page without scripts, an htmx notice with them), names the field and changes nothing; the API keeps
its problem+json.
"""

from __future__ import annotations

import html
import json

import httpx
import pytest

from tests.support.server.dashboard import Browser, BrowserFactory, report_seen
from tests.support.server.live import ADMIN_TOKEN

TASK = "prod_fanout-worker:process-item"
PATTERN = "prod_fanout-worker:*"


def revision(api: httpx.Client) -> int:
    return int(api.get("/api/v1/snapshot").headers["X-Rules-Revision"])


def audit_size(api: httpx.Client) -> int:
    return len(api.get("/api/v1/audit", params={"limit": 500}).json()["items"])


def notice(response: httpx.Response) -> str:
    message: str = json.loads(response.headers["HX-Trigger"])["htf-notice"]["message"]
    return message


def assert_dashboard_error(response: httpx.Response, status: int, message: str, *, htmx: bool) -> None:
    assert response.status_code == status, response.text
    if htmx:
        assert message in notice(response), notice(response)
        assert response.text == ""
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert message in html.unescape(response.text), response.text
        assert "problem" not in response.headers["content-type"]


# (path, fields that would pass, the one that does not, what the message says)
FORMS = [
    (
        "/ui/tasks/mode",
        {"action_id": TASK, "version": "0"},
        {"mode": "sideways"},
        "mode must be link, parent or inherit",
    ),
    (
        "/ui/tasks/mode",
        {"action_id": TASK, "mode": "link"},
        {"version": "1.5"},
        "version must be a whole number",
    ),
    (
        "/ui/tasks/mode",
        {"action_id": TASK, "mode": "link", "version": "0"},
        {"note": "n" * 1001},
        "note is longer than 1000",
    ),
    (
        "/ui/tasks/mode",
        {"mode": "link", "version": "0"},
        {"action_id": "x" * 256},
        "action_id is longer than 255",
    ),
    ("/ui/tasks/forget", {}, {"action_id": "   "}, "Missing action_id"),
    ("/ui/tasks/forget", {}, {"action_id": "wild*card"}, "must not contain '*'"),
    ("/ui/patterns", {"pattern": PATTERN}, {"mode": "both"}, "mode must be link or parent"),
    ("/ui/patterns", {"mode": "link"}, {"pattern": "no-star"}, "a pattern needs one '*'"),
    ("/ui/patterns/mode", {"pattern": PATTERN, "mode": "link"}, {"version": ""}, "Missing version"),
    ("/ui/patterns/remove", {"pattern": PATTERN}, {"version": "-1"}, "version must be a whole number"),
    ("/ui/settings/default", {"version": "0"}, {"default": "inherit"}, "default must be link or parent"),
    (
        "/ui/settings/default",
        {"version": "0", "default": "link"},
        {"note": "a\x00b"},
        "The note must not contain control",
    ),
    (
        "/ui/settings/links",
        {"version": "0"},
        {"links_enabled": "maybe"},
        "links_enabled must be true or false",
    ),
    (
        "/ui/settings/links",
        {"version": "0", "links_enabled": "false"},
        {"confirm": "sure"},
        "confirm must be yes",
    ),
    ("/ui/insights/apply", {"action_id": TASK}, {"version": "²"}, "version must be a whole number"),
    ("/ui/insights/dismiss", {}, {"action_id": "has space"}, "whitespace"),
    ("/ui/insights/restore", {}, {}, "Missing action_id"),
]


@pytest.mark.parametrize(("path", "good", "bad", "message"), FORMS)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_refused_form_field_gets_the_dashboards_422_and_changes_nothing(
    http_browser: BrowserFactory,
    api: httpx.Client,
    worker_api: httpx.Client,
    path: str,
    good: dict[str, str],
    bad: dict[str, str],
    message: str,
    htmx: bool,
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    before = (revision(api), audit_size(api))
    data = {**good, **bad, "csrf_token": browser.csrf}
    response = browser.htmx("POST", path, data=data) if htmx else browser.post(path, data=data)
    assert_dashboard_error(response, 422, message, htmx=htmx)
    assert (revision(api), audit_size(api)) == before
    assert api.get(f"/api/v1/tasks/{TASK}").json()["last_seen"] is not None  # not forgotten either


def test_every_refused_field_is_named(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    response = browser.htmx("POST", "/ui/tasks/mode", data={"mode": "up", "csrf_token": browser.csrf})
    assert response.status_code == 422
    text = notice(response)
    for part in ("Missing version.", "Missing action_id.", "The mode must be link, parent or inherit."):
        assert part in text


def test_the_csrf_check_comes_before_the_fields(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    before = revision(api)
    for path in ("/ui/tasks/mode", "/ui/patterns", "/ui/settings/links", "/ui/insights/apply"):
        response = browser.post(path, data={"mode": "sideways", "version": "x", "csrf_token": "wrong"})
        assert response.status_code == 403, path
        assert "CSRF" in response.text
    assert revision(api) == before


def test_a_form_with_too_many_fields_is_not_read(http_browser: BrowserFactory, api: httpx.Client) -> None:
    browser = http_browser(ADMIN_TOKEN)
    data = {f"field{index}": "x" for index in range(40)}
    data.update({"action_id": TASK, "mode": "link", "version": "0", "csrf_token": browser.csrf})
    # Multipart (fields without a file name): every Starlette version counts those fields.
    response = browser.post("/ui/tasks/mode", files={name: (None, value) for name, value in data.items()})
    assert_dashboard_error(response, 400, "The form could not be read.", htmx=False)
    assert api.get(f"/api/v1/tasks/{TASK}").status_code == 404


def test_stripped_text_and_a_blank_note_are_accepted(
    http_browser: BrowserFactory, api: httpx.Client, worker_api: httpx.Client
) -> None:
    report_seen(worker_api, [TASK])
    browser = http_browser(ADMIN_TOKEN)
    data = {"action_id": f"  {TASK} ", "mode": " link", "version": " 0 ", "note": "   "}
    response = browser.htmx("POST", "/ui/tasks/mode", data={**data, "csrf_token": browser.csrf})
    assert response.status_code == 200, notice(response)
    task = api.get(f"/api/v1/tasks/{TASK}").json()
    assert (task["mode"], task["note"]) == ("link", None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "random"}, "The sort must be name, mode, seen or changed."),
        ({"order": "up"}, "The order must be asc or desc."),
        ({"page": "0"}, "The page must be a positive whole number."),
        ({"page": "٣"}, "The page must be a positive whole number."),
        ({"mode": "both"}, "The mode must be link or parent."),
        ({"source": "mine"}, "The source must be own or inherited."),
        ({"q": "x" * 256}, "The search is longer than 255 characters."),
        ({"q": "a\x01b"}, "The search must not contain control"),
    ],
)
def test_a_refused_list_query_gets_the_dashboards_400(
    http_browser: BrowserFactory, params: dict[str, str], message: str
) -> None:
    browser: Browser = http_browser(ADMIN_TOKEN)
    assert_dashboard_error(browser.get("/", params=params), 400, message, htmx=False)
    assert_dashboard_error(browser.htmx("GET", "/ui/tasks", params=params), 400, message, htmx=True)


def test_list_queries_keep_their_defaults_and_their_urls(http_browser: BrowserFactory) -> None:
    browser = http_browser(ADMIN_TOKEN)
    fragment = browser.htmx(
        "GET", "/ui/tasks", params={"q": " fanout ", "mode": "", "source": "", "sort": "seen"}
    )
    assert fragment.status_code == 200
    assert fragment.headers["HX-Push-Url"] == "/?q=fanout&sort=seen"  # seen sorts newest first by default
    ascending = browser.htmx("GET", "/ui/tasks", params={"sort": "seen", "order": "asc", "page": "2"})
    assert ascending.headers["HX-Push-Url"] == "/?sort=seen&order=asc&page=2"


def test_history_needs_an_action_id(http_browser: BrowserFactory) -> None:
    browser = http_browser(ADMIN_TOKEN)
    assert_dashboard_error(browser.get("/ui/tasks/history"), 400, "Missing action_id.", htmx=False)
    refused = browser.htmx("GET", "/ui/tasks/history", params={"action_id": "a b"})
    assert_dashboard_error(
        refused, 400, "The action_id is not valid: an action_id must not contain", htmx=True
    )


def test_a_bad_sign_in_form_gets_the_dashboards_page(http_browser: BrowserFactory) -> None:
    browser = http_browser()
    response = browser.post("/sign-in", data={"signin_nonce": "n" * 300, "token": "t"})
    assert_dashboard_error(response, 422, "signin_nonce is longer than 255", htmx=False)


def test_the_api_keeps_its_problem_details(api: httpx.Client) -> None:
    response = api.put(f"/api/v1/tasks/{TASK}", json={"mode": "sideways"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "mode"
    listing = api.get("/api/v1/tasks", params={"limit": "many"})
    assert listing.headers["content-type"] == "application/problem+json"

"""Dashboard views: what each page and fragment shows (task rows, list, patterns, settings,
history), and the response after a write."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hatchet_trace_flags.contract import REVISION_HEADER, Decision, RuleSet
from hatchet_trace_flags_server.core.bodies import TaskOut
from hatchet_trace_flags_server.core.presenters import task_out
from hatchet_trace_flags_server.core.records import SettingsRecord, TaskListQuery, TaskRow
from hatchet_trace_flags_server.http.app_state import Services, state_of
from hatchet_trace_flags_server.http.sessions import Session, set_strict_cookie

from .inputs import DashboardForm, TaskQuery
from .rendering import NOTICE_COOKIE, NOTICE_LIFETIME, PAGE_SIZE, is_htmx, notice_header


@dataclass(frozen=True, slots=True)
class TaskView:
    """One row: the API's view of the task, and the decision its switch shows."""

    task: TaskOut
    # What the rules give, the kill switch aside: with the kill switch on every task is parent, yet the
    # switch still shows (and sets) the task's rule, so turning links back on restores exactly that.
    decision: Decision
    disabled_by_kill_switch: bool

    @property
    def links_on(self) -> bool:
        return self.decision.mode == "link"

    @property
    def configured(self) -> bool:
        return self.task.mode is not None


def _rule_set_row(row: TaskRow) -> TaskRow:
    """A task as a read token may see it (:func:`.access.sees_everything`): its rule as the snapshot
    carries it, without who changed it, the note, or which worker reported it when."""
    return TaskRow(replace(row.rule, note=None, updated_at=None, updated_by=None), None, None, None)


def task_views(rows: list[TaskRow], rules: RuleSet) -> list[TaskView]:
    unkilled = rules if rules.links_enabled else rules.with_settings(links_enabled=True)
    return [
        TaskView(task_out(row, rules), unkilled.evaluate(row.rule.key), not rules.links_enabled)
        for row in rows
    ]


async def tasks_context(services: Services, query: TaskQuery, *, everything: bool = True) -> dict[str, Any]:
    """The task list; without ``everything`` (a read token) the configured tasks alone, by name, with
    what the rule set says of them and nothing else."""
    rules = services.flags.rules
    if not everything:
        query = query.model_copy(update={"source": "own", "sort": "name", "order": "asc"})
    configured = {"own": True, "inherited": False}.get(query.source)
    listing = TaskListQuery(
        search=query.q or None,
        configured=configured,
        mode=query.mode,
        sort=query.sort,
        descending=query.order == "desc",
        limit=PAGE_SIZE,
        offset=(query.page - 1) * PAGE_SIZE,
    )
    found = await services.flags.list_tasks(listing, rules)
    if not everything:
        found = replace(found, rows=[_rule_set_row(row) for row in found.rows])
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    if not found.total_exact:
        # Counting stopped: one page more while this one is full.
        pages = max(pages, query.page + (1 if len(found.rows) == PAGE_SIZE else 0))
    elif query.page > pages and found.total:
        # Past the last page (the list shrank): show the last one.
        listing = replace(listing, offset=(pages - 1) * PAGE_SIZE)
        found = await services.flags.list_tasks(listing, rules)
        if not everything:
            found = replace(found, rows=[_rule_set_row(row) for row in found.rows])
    page = listing.offset // PAGE_SIZE + 1
    start = listing.offset
    search_total: int | None = None
    if not found.total and query.q and (query.mode or query.source):
        # Say what excludes the rows: the search text itself, or the filters on top of it.
        search_total = (
            await services.flags.list_tasks(
                replace(listing, mode=None, configured=None, limit=1, offset=0), rules
            )
        ).total
    link_count: int | None = None
    if found.total_exact:
        # Per-mode counts only while the total is exact: past it, counting the rarer mode could
        # mean reading every discovered task.
        if query.mode is not None:
            link_count = found.total if query.mode == "link" else 0
        else:
            links = await services.flags.list_tasks(replace(listing, mode="link", limit=1, offset=0), rules)
            link_count = links.total
    return {
        "query": query,
        "views": task_views(found.rows, rules),
        "total": found.total,
        "total_exact": found.total_exact,
        "page": page,
        "pages": pages,
        "first": start + 1 if found.rows else 0,
        "last": start + len(found.rows),
        "link_count": link_count,
        "search_total": search_total,
        "any_tasks": bool(found.rows) or query.filtered,
        "links_enabled": rules.links_enabled,
    }


async def patterns_context(services: Services, *, everything: bool = True) -> dict[str, Any]:
    records, total = await services.flags.list_patterns(limit=1000)
    if not everything:  # a read token: the patterns and their modes, as the snapshot has them
        records = [replace(record, note=None, updated_at=None, updated_by=None) for record in records]
    return {"patterns": records, "pattern_total": total}


async def settings_context(
    services: Services, settings: SettingsRecord | None = None, *, everything: bool = True
) -> dict[str, Any]:
    """The settings strip; ``settings`` when a write just returned them (no need to read them back).
    Without ``everything`` (a read token): the default and the kill switch, not who changed them."""
    snapshot = services.flags.snapshot
    rules = snapshot.rules
    settings = settings if settings is not None else await services.flags.settings()
    if not everything:
        settings = replace(settings, note=None, updated_at=None, updated_by=None)
    return {
        "settings": settings,
        "revision": snapshot.revision,
        "link_rules": sum(1 for mode in rules.tasks.values() if mode == "link")
        + sum(1 for mode in rules.patterns.values() if mode == "link"),
    }


def base_context(_request: Request, session: Session) -> dict[str, Any]:
    return {"session": session, "identity": session.identity, "csrf_token": session.csrf_token}


def read_notice(request: Request) -> dict[str, str] | None:
    """The notice a plain (script-less) form post left for the page it redirected to."""
    raw = request.cookies.get(NOTICE_COOKIE)
    if raw is None:
        return None
    try:
        notice = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if isinstance(notice, dict) and isinstance(notice.get("message"), str):
        return {"message": notice["message"][:500], "level": str(notice.get("level", "info"))[:10]}
    return None


def after_write(
    request: Request,
    form: DashboardForm,
    fragment: HTMLResponse | Response,
    *,
    message: str,
    level: str = "ok",
    revision: int | None = None,
    refresh: list[str] | None = None,
) -> Response:
    """The fragment for htmx, or a redirect back (with the notice in a short-lived cookie) for a form."""
    if is_htmx(request):
        fragment.headers.update(notice_header(message, level, refresh=refresh))
        # The page's revision follows writes and conflicts even when it hears no change events.
        fragment.headers[REVISION_HEADER] = str(state_of(request.app).services.flags.snapshot.revision)
        if revision is not None:
            fragment.headers["X-Change-Revision"] = str(revision)
        return fragment
    redirect = RedirectResponse(form.return_to, status_code=status.HTTP_303_SEE_OTHER)
    payload = base64.urlsafe_b64encode(json.dumps({"message": message, "level": level}).encode()).decode()
    set_strict_cookie(redirect, request, NOTICE_COOKIE, payload, lifetime=NOTICE_LIFETIME)
    return redirect

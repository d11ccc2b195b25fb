"""Dashboard routes that change something: task modes, forgetting tasks, patterns, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Request, Response, status
from fastapi.responses import HTMLResponse

from hatchet_trace_flags.contract import Mode, RulesError
from hatchet_trace_flags_server.core.conditions import EntityTags
from hatchet_trace_flags_server.core.records import Author, NotFound, PreconditionFailed, TaskRow
from hatchet_trace_flags_server.http.app_state import Services
from hatchet_trace_flags_server.http.sessions import Session

from .access import Editor, services_of
from .inputs import (
    AddPatternForm,
    DefaultModeForm,
    ForgetTaskForm,
    LinksForm,
    PatternModeForm,
    RemovePatternForm,
    TaskModeForm,
)
from .rendering import SECURITY_HEADERS, SOURCE, DashboardError, ago, is_htmx, render, rules_error
from .routing import dashboard_router
from .timed import task_until
from .views import after_write, base_context, patterns_context, settings_context, task_views

router = dashboard_router()


def _for_how_long(until: datetime | None, reverts_to: str | None) -> str:
    """ ", until 15:00 UTC (in 1 h), then parent" for a timed write's notice; "" for one that stays."""
    shown = task_until(until, reverts_to)
    return "" if shown is None else f", {shown.text}"


# --------------------------------------------------------------------------- task writes


def _row_response(
    request: Request, session: Session, services: Services, row: TaskRow, **extra: Any
) -> HTMLResponse:
    view = task_views([row], services.flags.rules)[0]
    return render(request, "_task_row.html", {**base_context(request, session), "view": view, **extra})


@router.post("/ui/tasks/mode")
async def set_task_mode(request: Request, session: Editor, form: Annotated[TaskModeForm, Form()]) -> Response:
    services = services_of(request)
    action_id, mode, if_match, note = form.action_id, form.rule_mode, form.if_match, form.note
    until = form.until()
    try:
        result = await services.flags.set_task(
            action_id, mode, Author(session.identity.name, SOURCE, note, if_match), until=until
        )
    except RulesError as error:
        raise rules_error(error) from None
    except PreconditionFailed:
        row = await services.flags.task(action_id)
        now = row.rule.mode or "inherited"
        message = (
            f"Not saved: {action_id} was changed by {row.rule.updated_by or 'someone'} "
            f"{ago(row.rule.updated_at)} (it is now {now}). Check it and try again."
        )
        response = _row_response(request, session, services, row, conflict=True)
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return after_write(request, form, response, message=message, level="warning")
    except NotFound:
        raise DashboardError(
            status.HTTP_409_CONFLICT, f"{action_id} has no mode of its own to clear."
        ) from None
    if mode is None:
        message = f"{action_id} follows patterns and the default again."
    else:
        effect = "starts a new trace with a span link" if mode == "link" else "stays a child span (parent)"
        timed = _for_how_long(result.record.rule.until, result.record.rule.reverts_to)
        message = f"{action_id} now {effect}{timed}."
    return after_write(
        request,
        form,
        _listed_row(request, session, services, result.record),
        message=message,
        revision=result.revision,
    )


def _listed_row(request: Request, session: Session, services: Services, row: TaskRow) -> Response:
    """The task's row as the list now shows it; nothing when it left the list (no mode of its own
    and no worker reports it)."""
    if row.rule.mode is None and row.last_seen is None:
        return Response(headers=SECURITY_HEADERS)
    return _row_response(request, session, services, row, changed=True)


@router.post("/ui/tasks/forget")
async def forget_task(request: Request, session: Editor, form: Annotated[ForgetTaskForm, Form()]) -> Response:
    """Forget a discovered task: it leaves the list unless it has a mode of its own."""
    services = services_of(request)
    action_id = form.action_id
    try:
        forgotten = await services.flags.forget([action_id], session.identity.name)
    except RulesError as error:
        raise rules_error(error) from None
    message = (
        f"{action_id} is forgotten; a worker that still runs it will report it again."
        if forgotten
        else f"{action_id} was not discovered (nothing to forget)."
    )
    try:
        fragment = _listed_row(request, session, services, await services.flags.task(action_id))
    except NotFound:
        fragment = Response(headers=SECURITY_HEADERS)
    return after_write(request, form, fragment, message=message)


# --------------------------------------------------------------------------- pattern writes


def _patterns_response(request: Request, session: Session, context: dict[str, Any]) -> HTMLResponse:
    return render(request, "_patterns.html", {**base_context(request, session), **context})


async def _write_pattern(
    request: Request,
    session: Session,
    form: AddPatternForm | PatternModeForm | RemovePatternForm,
    pattern: str,
    mode: Mode | None,
    if_match: EntityTags,
    *,
    done: str,
) -> Response:
    services = services_of(request)
    until = form.until() if isinstance(form, AddPatternForm | PatternModeForm) else None
    try:
        result = await services.flags.set_pattern(
            pattern, mode, Author(session.identity.name, SOURCE, form.note, if_match), until=until
        )
    except RulesError as error:
        raise rules_error(error) from None
    except PreconditionFailed:
        current = await services.flags.pattern(pattern)
        message = (
            f"Not saved: pattern {pattern} was changed by {current.updated_by or 'someone'} "
            f"{ago(current.updated_at)}. Check it and try again."
        )
        response = _patterns_response(request, session, await patterns_context(services))
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return after_write(request, form, response, message=message, level="warning")
    except NotFound:
        raise DashboardError(status.HTTP_409_CONFLICT, f"Pattern {pattern} was already removed.") from None
    response = _patterns_response(request, session, await patterns_context(services))
    if result.record.until is not None:
        done = (
            done.rstrip(".") + _for_how_long(result.record.until, result.record.reverts_to or "removed") + "."
        )
    return after_write(
        request, form, response, message=done, revision=result.revision, refresh=["tasks", "settings"]
    )


@router.post("/ui/patterns")
async def add_pattern(request: Request, session: Editor, form: Annotated[AddPatternForm, Form()]) -> Response:
    pattern, mode = form.pattern, form.mode
    services = services_of(request)
    try:
        current = await services.flags.pattern(pattern)
    except RulesError as error:
        raise rules_error(error) from None
    if current.mode is not None:
        raise DashboardError(
            status.HTTP_409_CONFLICT,
            f"Pattern {pattern} already exists ({current.mode}); change it in the list instead.",
        )
    # Based on the unconfigured version: two people adding the same pattern cannot both win.
    if_match = EntityTags(any=False, strong=frozenset({str(current.version)}), weak=frozenset())
    return await _write_pattern(
        request, session, form, pattern, mode, if_match, done=f"Added pattern {pattern} → {mode}."
    )


@router.post("/ui/patterns/mode")
async def set_pattern_mode(
    request: Request, session: Editor, form: Annotated[PatternModeForm, Form()]
) -> Response:
    pattern, mode = form.pattern, form.mode
    return await _write_pattern(
        request, session, form, pattern, mode, form.if_match, done=f"Pattern {pattern} → {mode}."
    )


@router.post("/ui/patterns/remove")
async def remove_pattern(
    request: Request, session: Editor, form: Annotated[RemovePatternForm, Form()]
) -> Response:
    pattern = form.pattern
    return await _write_pattern(
        request, session, form, pattern, None, form.if_match, done=f"Removed pattern {pattern}."
    )


# --------------------------------------------------------------------------- settings writes


async def _write_settings(
    request: Request,
    session: Session,
    form: DefaultModeForm | LinksForm,
    *,
    default: Mode | None = None,
    links_enabled: bool | None = None,
    done: str,
) -> Response:
    services = services_of(request)
    try:
        result = await services.flags.update_settings(
            Author(session.identity.name, SOURCE, form.note, form.if_match),
            default=default,
            links_enabled=links_enabled,
            until=form.until() if isinstance(form, LinksForm) else None,
        )
    except RulesError as error:
        raise rules_error(error) from None
    except PreconditionFailed:
        current = await services.flags.settings()
        message = (
            f"Not saved: the settings were changed by {current.updated_by or 'someone'} "
            f"{ago(current.updated_at)}. Check them and try again."
        )
        response = render(
            request,
            "_settings.html",
            {**base_context(request, session), **await settings_context(services)},
        )
        response.status_code = status.HTTP_412_PRECONDITION_FAILED
        return after_write(request, form, response, message=message, level="warning")
    context = await settings_context(services, result.record)
    if links_enabled is not None and result.record.links_until is not None:
        now, back = ("on", "off") if links_enabled else ("off", "on")
        timed = _for_how_long(result.record.links_until, f"span links {back}")
        done = f"Span links {now} for every task{timed}."
    response = render(request, "_settings.html", {**base_context(request, session), **context})
    return after_write(request, form, response, message=done, revision=result.revision, refresh=["tasks"])


@router.post("/ui/settings/default")
async def set_default_mode(
    request: Request, session: Editor, form: Annotated[DefaultModeForm, Form()]
) -> Response:
    mode = form.default
    return await _write_settings(
        request, session, form, default=mode, done=f"Tasks without a rule now default to {mode}."
    )


@router.post("/ui/settings/links")
async def set_links_enabled(
    request: Request, session: Editor, form: Annotated[LinksForm, Form()]
) -> Response:

    enabled = form.enabled
    if form.confirm is None:
        # The kill switch changes every task at once: ask first (a dialog with scripts, a page without).
        services = services_of(request)
        context = {
            **base_context(request, session),
            **await settings_context(services),
            "enable": enabled,
            "version_text": str(form.version),
        }
        if is_htmx(request):
            return render(
                request,
                "_confirm_links.html",
                context,
                headers={"HX-Retarget": "#dialog-slot", "HX-Reswap": "innerHTML"},
            )
        return render(request, "confirm_links.html", context)
    return await _write_settings(
        request,
        session,
        form,
        links_enabled=enabled,
        done=(
            "Span links are on again: tasks follow their rules."
            if enabled
            else "Span links off: every task stays a child span (parent) until they are turned back on."
        ),
    )

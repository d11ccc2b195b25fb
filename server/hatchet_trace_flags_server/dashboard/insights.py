"""The fan-out insight page (``/insights``): per task, the numbers, two small inline SVG pictures,
and the link recommendation with one-click apply (the normal versioned write, audited) or dismiss.

Plain forms that redirect back with a notice, so the page works without script; the pictures are
inline SVG with presentation attributes only (the CSP allows no inline style and no outside request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Form, Request, Response, status

from hatchet_trace_flags.contract import Histogram
from hatchet_trace_flags_server.core.insight_bodies import TaskInsightOut
from hatchet_trace_flags_server.core.presenters import human_seconds
from hatchet_trace_flags_server.core.records import Author, NotFound, PreconditionFailed
from hatchet_trace_flags_server.http.sessions import clear_strict_cookie
from hatchet_trace_flags_server.services.insights import Insight

from .access import AdminViewer, Editor, services_of
from .inputs import ApplyInsightForm, InsightForm
from .rendering import NOTICE_COOKIE, SECURITY_HEADERS, SOURCE, DashboardError, render
from .routing import dashboard_router
from .views import after_write, base_context, read_notice

__all__ = ["InsightView"]

router = dashboard_router()

# Picture geometry, in SVG user units (the SVG scales to its box).
_WIDTH: Final = 320.0
_HEIGHT: Final = 72.0
_BAR_GAP: Final = 2.0


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    late: bool  # started after the spawner had finished: holds a parent trace open
    title: str


@dataclass(frozen=True, slots=True)
class InsightView:
    out: TaskInsightOut
    version: int
    children_per_run: int  # the main spawner's mean
    bars: list[Bar]
    axis_low: str
    axis_high: str
    parent_width: float
    link_width: float

    def seconds(self, value: float) -> str:
        return human_seconds(value)


def _bars(histogram: Histogram | None, spawner_seconds: float) -> tuple[list[Bar], str, str]:
    """The start-delay distribution: one bar per bucket between the first and the last used one."""
    if histogram is None or histogram.count == 0:
        return [], "", ""
    used = [index for index, count in enumerate(histogram.buckets) if count]
    first, last = used[0], used[-1]
    buckets = histogram.buckets[first : last + 1]
    tallest = max(buckets)
    width = _WIDTH / len(buckets)
    bounds = histogram.bounds
    bars = []
    for offset, count in enumerate(buckets):
        index = first + offset
        low = bounds[index - 1] if index > 0 else 0.0
        high = bounds[index] if index < len(bounds) else histogram.high
        height = max(1.0, (_HEIGHT - 4) * count / tallest) if count else 0.0
        title = f"{count} started {human_seconds(low)} to {human_seconds(high)} after the spawn"
        bars.append(
            Bar(
                offset * width,
                _HEIGHT - height,
                max(1.0, width - _BAR_GAP),
                height,
                low >= spawner_seconds,
                title,
            )
        )
    # The axis spans what was recorded, not the buckets' bounds around it.
    return bars, human_seconds(histogram.low), human_seconds(histogram.high)


async def _views(request: Request) -> tuple[list[InsightView], list[TaskInsightOut]]:
    """Fan-out children (with a spawner) as cards; every other measured task in the table below."""
    services = services_of(request)
    cards, others = [], []
    insights = await services.insights.load()
    spawners = {insight.out.action_id: insight.out.spawner for insight in insights}
    for insight in insights:
        out = insight.out
        if out.trace_open is None or out.child is None:
            others.append(out)
            continue
        spawner = spawners.get(out.spawned_by[0].action_id)
        per_run = round(spawner.children_per_run_mean) if spawner is not None else 0
        cards.append(await _view(request, insight, per_run))
    # What needs a decision first, then the biggest gap between parent and link mode.
    cards.sort(
        key=lambda view: (
            view.out.recommendation is None or view.out.recommendation.dismissed,
            -(view.out.trace_open.parent_seconds if view.out.trace_open else 0.0),
        )
    )
    return cards, others


async def _view(request: Request, insight: Insight, children_per_run: int) -> InsightView:
    out = insight.out
    assert out.trace_open is not None
    try:
        version = (await services_of(request).flags.task(out.action_id)).rule.version
    except NotFound:
        version = 0
    spawner = out.trace_open.link_seconds
    bars, low, high = _bars(insight.start_delay, spawner)
    longest = max(out.trace_open.parent_seconds, out.trace_open.link_seconds, 1e-9)
    return InsightView(
        out=out,
        version=version,
        children_per_run=children_per_run,
        bars=bars,
        axis_low=low,
        axis_high=high,
        parent_width=max(2.0, _WIDTH * out.trace_open.parent_seconds / longest),
        link_width=max(2.0, _WIDTH * out.trace_open.link_seconds / longest),
    )


@router.get("/insights")
async def insights_page(request: Request, session: AdminViewer) -> Response:
    cards, others = await _views(request)
    services = services_of(request)
    context = {
        **base_context(request, session),
        "cards": cards,
        "others": others,
        "window": human_seconds(services.insights.window_seconds),
        "seconds": human_seconds,
    }
    notice = read_notice(request)
    response = render(request, "insights.html", {**context, "notice": notice})
    if notice is not None:
        clear_strict_cookie(response, request, NOTICE_COOKIE)
    return response


async def _insight(request: Request, action_id: str) -> TaskInsightOut:
    insight = await services_of(request).insights.one(action_id)
    if insight is not None:
        return insight.out
    raise DashboardError(status.HTTP_404_NOT_FOUND, f"No fan-out numbers for {action_id} in the window.")


@router.post("/ui/insights/apply")
async def apply_recommendation(
    request: Request, session: Editor, form: Annotated[ApplyInsightForm, Form()]
) -> Response:
    """Set the recommended mode, with the version the page showed: a change in between is refused."""
    services = services_of(request)
    out = await _insight(request, form.action_id)
    if out.recommendation is None:
        raise DashboardError(status.HTTP_409_CONFLICT, f"{out.action_id} has no recommendation (any more).")
    try:
        result = await services.flags.set_task(
            out.action_id,
            out.recommendation.mode,
            Author(session.identity.name, SOURCE, out.recommendation.reason, form.if_match),
        )
    except PreconditionFailed:
        message = f"Not applied: {out.action_id} was changed meanwhile. Check it and try again."
        return after_write(
            request, form, Response(headers=SECURITY_HEADERS), message=message, level="warning"
        )
    message = f"{out.action_id} now starts a new trace with a span link ({out.recommendation.reason})."
    return after_write(
        request, form, Response(headers=SECURITY_HEADERS), message=message, revision=result.revision
    )


@router.post("/ui/insights/dismiss")
async def dismiss_recommendation(
    request: Request, session: Editor, form: Annotated[InsightForm, Form()]
) -> Response:
    services = services_of(request)
    out = await _insight(request, form.action_id)
    if out.recommendation is None:
        raise DashboardError(status.HTTP_409_CONFLICT, f"{out.action_id} has no recommendation to dismiss.")
    await services.insights.dismiss(out.action_id, out.recommendation.mode, session.identity.name)
    message = f"Dismissed: {out.action_id} stays as it is; its numbers are still shown."
    return after_write(request, form, Response(headers=SECURITY_HEADERS), message=message, level="info")


@router.post("/ui/insights/restore")
async def restore_recommendation(
    request: Request, session: Editor, form: Annotated[InsightForm, Form()]
) -> Response:
    services = services_of(request)
    action_id = form.action_id
    await services.insights.undismiss(action_id)
    return after_write(
        request,
        form,
        Response(headers=SECURITY_HEADERS),
        message=f"{action_id}: recommendation shown again.",
    )

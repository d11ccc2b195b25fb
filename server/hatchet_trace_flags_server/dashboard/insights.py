"""The fan-out insight page (``/insights``): per task, the numbers, two small inline SVG pictures,
the link recommendation with one-click apply (the normal versioned write, audited) or dismiss, and,
for a task whose mode changed, its numbers before versus after the change (``before_after_view``).

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
from hatchet_trace_flags_server.services.before_after import Comparison, Side
from hatchet_trace_flags_server.services.insights import Insight

from .access import AdminViewer, Editor, services_of
from .inputs import ApplyInsightForm, InsightForm
from .rendering import NOTICE_COOKIE, SECURITY_HEADERS, SOURCE, DashboardError, render
from .routing import dashboard_router
from .views import after_write, base_context, read_notice

__all__ = ["ComparisonView", "InsightView", "before_after_view"]

router = dashboard_router()

# Picture geometry, in SVG user units (the SVG scales to its box).
_WIDTH: Final = 320.0
_HEIGHT: Final = 72.0
_BAR_GAP: Final = 2.0
_HALF: Final = 34.0  # one side's start-delay bars in the before/after picture


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
    comparison: ComparisonView | None

    def seconds(self, value: float) -> str:
        return human_seconds(value)


@dataclass(frozen=True, slots=True)
class SideView:
    side: Side
    bars: list[Bar]  # the start-delay distribution, on the axis both sides share
    open_width: float  # trace open, on the scale both sides share


@dataclass(frozen=True, slots=True)
class ComparisonView:
    """A task's latest mode change with the numbers of the window before and the window after it."""

    comparison: Comparison
    before: SideView | None
    after: SideView | None
    axis_low: str
    axis_high: str


def _shares(
    histogram: Histogram, first: int, last: int, tallest: float, top: float, spawner: float
) -> list[Bar]:
    """One bar per bucket from ``first`` to ``last``: its share of the side's runs, so sides with
    different traffic compare (``tallest``: the largest share on either side)."""
    width = _WIDTH / (last - first + 1)
    bars = []
    for index in range(first, last + 1):
        count = histogram.buckets[index]
        low = histogram.bounds[index - 1] if index > 0 else 0.0
        high = histogram.bounds[index] if index < len(histogram.bounds) else histogram.high
        height = max(1.0, _HALF * count / histogram.count / tallest) if count else 0.0
        span = f"{human_seconds(low)} to {human_seconds(high)}"
        title = f"{count} of {histogram.count} started {span} after the spawn"
        bars.append(
            Bar(
                (index - first) * width,
                top + _HALF - height,
                max(1.0, width - _BAR_GAP),
                height,
                low >= spawner,
                title,
            )
        )
    return bars


def before_after_view(comparison: Comparison) -> ComparisonView | None:
    """The picture of both sides; None when neither side measured a child run."""
    sides = [side for side in (comparison.before, comparison.after) if side is not None]
    if not sides:
        return None
    used = [index for side in sides for index, count in enumerate(side.start_delay.buckets) if count]
    first, last = min(used), max(used)
    tallest = max(max(side.start_delay.buckets) / side.start_delay.count for side in sides)
    longest = max([side.trace_open_seconds or 0.0 for side in sides] + [1e-9])

    def view(side: Side | None, top: float) -> SideView | None:
        if side is None:
            return None
        spawner = side.spawner_seconds if side.spawner_seconds is not None else float("inf")
        bars = _shares(side.start_delay, first, last, tallest, top, spawner)
        return SideView(side, bars, max(2.0, _WIDTH * (side.trace_open_seconds or 0.0) / longest))

    low = min(side.start_delay.low for side in sides)
    high = max(side.start_delay.high for side in sides)
    return ComparisonView(
        comparison,
        view(comparison.before, 12.0),
        view(comparison.after, 12.0 + _HALF + 16.0),
        human_seconds(low),
        human_seconds(high),
    )


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


async def _views(
    request: Request,
) -> tuple[list[InsightView], list[TaskInsightOut], list[ComparisonView]]:
    """Fan-out children (with a spawner) as cards; every other measured task in the table below; the
    before/after of changed tasks inside their card, or on its own when the task has no card now."""
    services = services_of(request)
    cards, others = [], []
    insights = await services.insights.load()
    comparisons = {
        action_id: view
        for action_id, comparison in (await services.before_after.comparisons()).items()
        if (view := before_after_view(comparison)) is not None
    }
    spawners = {insight.out.action_id: insight.out.spawner for insight in insights}
    for insight in insights:
        out = insight.out
        if out.trace_open is None or out.child is None:
            others.append(out)
            continue
        spawner = spawners.get(out.spawned_by[0].action_id)
        per_run = round(spawner.children_per_run_mean) if spawner is not None else 0
        cards.append(await _view(request, insight, per_run, comparisons.pop(out.action_id, None)))
    # What needs a decision first, then the biggest gap between parent and link mode.
    cards.sort(
        key=lambda view: (
            view.out.recommendation is None or view.out.recommendation.dismissed,
            -(view.out.trace_open.parent_seconds if view.out.trace_open else 0.0),
        )
    )
    alone = sorted(comparisons.values(), key=lambda view: -view.comparison.change.at.timestamp())
    return cards, others, alone


async def _view(
    request: Request, insight: Insight, children_per_run: int, comparison: ComparisonView | None
) -> InsightView:
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
        comparison=comparison,
    )


@router.get("/insights")
async def insights_page(request: Request, session: AdminViewer) -> Response:
    cards, others, changed = await _views(request)
    services = services_of(request)
    context = {
        **base_context(request, session),
        "cards": cards,
        "others": others,
        "changed": changed,
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

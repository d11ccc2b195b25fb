"""The "matches N tasks" line under the add-pattern field, asked for while someone types (htmx,
debounced): how many known tasks the pattern would name, and how many of them keep their own mode.

Read-only and cheap at a million discovered tasks (one index range, counted up to the list's limit;
see ``store/task_list/pattern_matches.py``). Text that is not a pattern yet gets a hint, not an error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from hatchet_trace_flags.contract import RulesError

from .access import Viewer, services_of
from .rendering import is_htmx, render
from .routing import dashboard_router
from .views import base_context

router = dashboard_router()


class PreviewQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    pattern: Annotated[str, Field(max_length=1024)] = ""


@router.get("/ui/patterns/preview")
async def pattern_preview(
    request: Request, session: Viewer, query: Annotated[PreviewQuery, Query()]
) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/#patterns-panel", status_code=status.HTTP_303_SEE_OTHER)
    pattern = query.pattern.strip()
    context: dict[str, object] = {**base_context(request, session), "pattern": pattern}
    if pattern:
        try:
            context["matches"] = await services_of(request).flags.pattern_matches(pattern)
        except RulesError as error:
            context["problem"] = error.message
    return render(request, "_pattern_preview.html", context)

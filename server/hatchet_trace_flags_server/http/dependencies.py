"""The per-app objects every route needs, and the request helpers shared by the routers: who asks
for a change (:class:`Author`) and on which version it is based."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from hatchet_trace_flags_server.core.conditions import ConditionError, EntityTags, parse_entity_tags
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.core.tokens import Identity

from .app_state import Services, state_of
from .auth import AdminIdentity

__all__ = ["AdminAuthor", "ImportAuthor", "ServicesDep"]

_SOURCE = re.compile(r"[a-z][a-z0-9-]{0,31}")
SOURCE_HEADER = "X-Change-Source"


async def _services(request: Request) -> Services:
    return state_of(request.app).services


ServicesDep = Annotated[Services, Depends(_services)]


def _if_match(request: Request) -> EntityTags | None:
    try:
        return parse_entity_tags(request.headers.get("if-match"), name="If-Match")
    except ConditionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def _change_source(request: Request, default: str = "api") -> str:
    """Where a change came from for the audit log: ``X-Change-Source`` (e.g. ``cli``,
    ``dashboard``) when it is a short lowercase word, else ``default``."""
    value = request.headers.get(SOURCE_HEADER, "")
    return value if _SOURCE.fullmatch(value) else default


def _author(default_source: str) -> Callable[[Request, Identity], Awaitable[Author]]:
    async def author(request: Request, identity: AdminIdentity) -> Author:
        return Author(identity.name, _change_source(request, default_source), if_match=_if_match(request))

    return author


# An admin's change through the API: its name, X-Change-Source and If-Match (the note comes from
# the body or the query, so each route adds it with ``author.noting(note)``).
AdminAuthor = Annotated[Author, Depends(_author("api"))]
# The same for an import, which the audit log calls "import" unless the client says otherwise.
ImportAuthor = Annotated[Author, Depends(_author("import"))]

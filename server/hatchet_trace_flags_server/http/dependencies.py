"""The per-app objects every route needs, and the request helpers shared by the routers: who asks
for a change (:class:`Author`) and on which version it is based."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from hatchet_trace_flags.contract import STORE_HEADER
from hatchet_trace_flags_server.core.conditions import ConditionError, EntityTags, parse_entity_tags
from hatchet_trace_flags_server.core.metrics import Metrics
from hatchet_trace_flags_server.core.records import Author
from hatchet_trace_flags_server.core.settings import Settings
from hatchet_trace_flags_server.core.tokens import Identity, TokenRegistry
from hatchet_trace_flags_server.services.feed import ChangeFeed
from hatchet_trace_flags_server.services.flags import FlagService
from hatchet_trace_flags_server.services.insights import InsightService
from hatchet_trace_flags_server.store.database import Database

from .auth import AdminIdentity

__all__ = ["STORE_HEADER", "AdminAuthor", "ImportAuthor", "Services", "ServicesDep"]

_SOURCE = re.compile(r"[a-z][a-z0-9-]{0,31}")
SOURCE_HEADER = "X-Change-Source"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    database: Database
    feed: ChangeFeed
    tokens: TokenRegistry
    metrics: Metrics
    flags: FlagService
    insights: InsightService

    @property
    def store_headers(self) -> dict[str, str]:
        """``X-Rules-Store``: which database the rules come from. Workers compare it between polls
        and warn when it changes (a different, maybe empty, database)."""
        store_id = self.database.store_id
        return {STORE_HEADER: store_id} if store_id is not None else {}


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


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

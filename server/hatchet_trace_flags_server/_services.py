"""The per-app objects every route needs, and small request helpers shared by the routers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from ._conditions import ConditionError, EntityTags, parse_entity_tags
from ._db import Database
from ._feed import ChangeFeed
from ._metrics import Metrics
from ._ratelimit import RateLimiter
from ._settings import Settings
from ._store import Store, WriteResult
from ._tokens import TokenRegistry

__all__ = ["STORE_HEADER", "Services", "ServicesDep", "change_source", "if_match"]

_SOURCE = re.compile(r"[a-z][a-z0-9-]{0,31}")
SOURCE_HEADER = "X-Change-Source"
STORE_HEADER = "X-Rules-Store"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    database: Database
    store: Store
    feed: ChangeFeed
    tokens: TokenRegistry
    metrics: Metrics
    seen_limiter: RateLimiter

    @property
    def store_headers(self) -> dict[str, str]:
        """``X-Rules-Store``: which database the rules come from. Workers compare it between polls
        and warn when it changes (a different, maybe empty, database)."""
        store_id = self.database.store_id
        return {STORE_HEADER: store_id} if store_id is not None else {}

    async def publish(self, result: WriteResult[Any]) -> None:
        """Serve and announce a change this process just committed."""
        if result.event is not None and result.snapshot is not None:
            self.metrics.changes.labels(result.event.kind).inc()
            await self.feed.apply_local(result.event, result.snapshot)


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def if_match(request: Request) -> EntityTags | None:
    try:
        return parse_entity_tags(request.headers.get("if-match"), name="If-Match")
    except ConditionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def change_source(request: Request, default: str = "api") -> str:
    """Where a change came from for the audit log: ``X-Change-Source`` (e.g. ``cli``,
    ``dashboard``) when it is a short lowercase word, else ``default``."""
    value = request.headers.get(SOURCE_HEADER, "")
    return value if _SOURCE.fullmatch(value) else default

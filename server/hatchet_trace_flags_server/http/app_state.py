"""What one app keeps for its requests, in one typed object: :class:`AppState`, read with :func:`state_of`.

The app factory builds it; routes and the http helpers read it back typed, instead of loose attributes
on Starlette's ``app.state``. ``Services`` are the objects routes call (the service layer, the feed, the
database handle); the rest belongs to authentication and to the app's lifecycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request

from hatchet_trace_flags.contract import STORE_HEADER
from hatchet_trace_flags_server.core.metrics import Metrics
from hatchet_trace_flags_server.core.settings import Settings
from hatchet_trace_flags_server.core.tokens import Identity, TokenRegistry
from hatchet_trace_flags_server.services.before_after import BeforeAfter
from hatchet_trace_flags_server.services.feed import ChangeFeed
from hatchet_trace_flags_server.services.flags import FlagService
from hatchet_trace_flags_server.services.insights import InsightService
from hatchet_trace_flags_server.services.mode_keeper import ModeKeeper
from hatchet_trace_flags_server.services.retention import RetentionSweep
from hatchet_trace_flags_server.services.workers import WorkerService
from hatchet_trace_flags_server.store.database import Database

from .auth_throttle import AuthThrottle

if TYPE_CHECKING:
    from .sessions import SessionKeys

__all__ = ["AppState", "IdentityResolver", "Services", "state_of"]

IdentityResolver = Callable[[Request], Awaitable[Identity | None]]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    database: Database
    feed: ChangeFeed
    tokens: TokenRegistry
    metrics: Metrics
    flags: FlagService
    insights: InsightService
    workers: WorkerService
    before_after: BeforeAfter

    @property
    def store_headers(self) -> dict[str, str]:
        """``X-Rules-Store``: which database the rules come from. Workers compare it between polls
        and warn when it changes (a different, maybe empty, database)."""
        store_id = self.database.store_id
        return {STORE_HEADER: store_id} if store_id is not None else {}


@dataclass(slots=True)
class AppState:
    services: Services
    auth_throttle: AuthThrottle
    retention_sweep: RetentionSweep
    # The admin token this process made because none was configured (printed once at start-up).
    generated_admin_token: str | None = None
    # Ways to authenticate besides bearer tokens, asked in order (the dashboard's session cookie).
    identity_resolvers: list[IdentityResolver] = field(default_factory=list)
    dashboard_sessions: SessionKeys | None = None
    # Keeps discovered tasks' stored effective modes current (tests watch its batches).
    mode_keeper: ModeKeeper | None = None


def state_of(app: Starlette) -> AppState:
    """The app's state, as the app factory stored it."""
    state: AppState = app.state.hatchet_trace_flags
    return state

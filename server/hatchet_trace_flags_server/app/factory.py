"""The app factory: ``create_app(settings)`` wires storage, auth, routers and the lifespan."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from hatchet_trace_flags.contract import INSIGHTS_PATH, SEEN_PATH, WORKER_REPORT_PATH
from hatchet_trace_flags_server.api import API_ROUTERS
from hatchet_trace_flags_server.core.metrics import Metrics, MetricsMiddleware
from hatchet_trace_flags_server.core.ratelimit import RateLimiter, ReportGate
from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.core.settings import Settings
from hatchet_trace_flags_server.core.tokens import TokenRegistry
from hatchet_trace_flags_server.dashboard import install_dashboard
from hatchet_trace_flags_server.http.app_state import AppState, Services
from hatchet_trace_flags_server.http.auth_throttle import AuthThrottle
from hatchet_trace_flags_server.http.body_limit import BodySizeLimit
from hatchet_trace_flags_server.http.exception_handlers import install_error_handlers
from hatchet_trace_flags_server.http.forwarded import ForwardedHeaders
from hatchet_trace_flags_server.http.sessions import SessionKeys
from hatchet_trace_flags_server.services.before_after import BeforeAfter
from hatchet_trace_flags_server.services.expiry import ExpiryClock
from hatchet_trace_flags_server.services.feed import ChangeFeed
from hatchet_trace_flags_server.services.flags import FlagService
from hatchet_trace_flags_server.services.insights import InsightService
from hatchet_trace_flags_server.services.mode_keeper import ModeKeeper
from hatchet_trace_flags_server.services.retention import RetentionSweep
from hatchet_trace_flags_server.services.workers import WorkerService
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.sessions import SessionStore
from hatchet_trace_flags_server.store.store import Store

__all__ = ["create_app"]

logger = logging.getLogger("hatchet_trace_flags_server")

_SHUTDOWN_CLEANUP_SECONDS = 3.0


def _version() -> str:
    try:
        return version("hatchet-trace-flags")
    except PackageNotFoundError:
        return "0+unknown"


def _announce_generated_token(token: str) -> None:
    # Printed once, to the terminal/container log, never through logging (handlers may ship it).
    print(
        "\n"
        "    No admin token is configured (HATCHET_TRACE_FLAGS_ADMIN_TOKENS / _FILE), so this process\n"
        "    made one. It is valid until the process exits. Use it as:\n"
        f"        Authorization: Bearer {token}\n"
        "    Configure tokens to make this go away.\n",
        file=sys.stderr,
        flush=True,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Nothing touches the database until the app's lifespan starts."""
    settings = settings if settings is not None else Settings()
    tokens = TokenRegistry.from_sources(
        admin_tokens=settings.admin_tokens,
        read_tokens=settings.read_tokens,
        admin_tokens_file=settings.admin_tokens_file,
        read_tokens_file=settings.read_tokens_file,
    )
    generated_token = None if tokens.has_admin else tokens.add_generated_admin()
    database = Database(settings.sqlalchemy_url(), timeout_seconds=settings.database_timeout_seconds)
    # The feed owns the served snapshot; the store reads it (late-bound: the feed needs the store).
    store = Store(database, known=lambda: feed.latest)
    metrics = Metrics()
    # Keeps each discovered task's stored effective mode equal to what every served snapshot decides.
    mode_keeper = ModeKeeper(store.modes, on_batch=metrics.mode_batches.observe)

    def on_snapshot(snapshot: RulesSnapshot) -> None:
        metrics.observe_snapshot(snapshot)
        mode_keeper.observe(snapshot)
        # A new snapshot may bring a new earliest until (late-bound: the clock needs the flags).
        expiry_clock.poke()

    feed = ChangeFeed(
        store.queries,
        resync_seconds=settings.resync_seconds,
        listen_dsn=database.listen_dsn() if database.is_postgres else None,
        on_snapshot=on_snapshot,
        max_streams=settings.max_streams,
        max_streams_per_owner=settings.max_streams_per_token,
        heartbeat_seconds=settings.heartbeat_seconds,
    )
    seen_limiter = RateLimiter(rate=settings.seen_rate, burst=settings.seen_burst, what="reported action_ids")
    insights = InsightService(
        store.insights,
        rules=lambda: feed.snapshot.rules,
        report_limiter=seen_limiter,
        window_seconds=settings.insight_window_seconds,
        max_tasks=settings.max_insight_tasks,
        trace_url_template=settings.trace_url_template,
        on_refused_exemplars=metrics.exemplars_refused.inc,
    )
    flags = FlagService(
        store,
        feed,
        metrics,
        insights=insights,
        report_limiter=seen_limiter,
        max_discovered_tasks=settings.max_discovered_tasks,
        max_discovered_characters=settings.max_discovered_characters,
        max_until_seconds=settings.max_until_seconds,
        modes=mode_keeper,
    )
    expiry_clock = ExpiryClock(flags, lambda: feed.latest, idle_seconds=settings.resync_seconds)
    worker_limiter = RateLimiter(
        rate=settings.worker_report_rate, burst=settings.worker_report_burst, what="worker reports"
    )
    workers = WorkerService(
        store.workers,
        feed,
        metrics,
        report_limiter=worker_limiter,
        max_workers=settings.max_workers,
        store_id=lambda: database.store_id,
    )
    before_after = BeforeAfter(
        store.comparisons, store.insights, window_seconds=settings.insight_window_seconds
    )
    services = Services(settings, database, feed, tokens, metrics, flags, insights, workers, before_after)
    sweep = RetentionSweep(
        store.seen,
        retention_seconds=settings.discovered_retention_seconds,
        interval_seconds=settings.retention_sweep_seconds,
        on_expired=metrics.seen_expired.inc,
        insights=store.insights,
        insight_window_seconds=settings.insight_window_seconds,
        before_after=before_after,
        workers=store.workers,
        worker_retention_seconds=settings.worker_retention_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await database.migrate()
            await feed.start()
            mode_keeper.start()
            sweep.start()
            expiry_clock.start()
        except BaseException:
            await expiry_clock.stop()
            await sweep.stop()
            await mode_keeper.stop()
            await feed.stop()
            await database.dispose()
            raise
        logger.info("serving rules revision %d from %s", feed.snapshot.revision, database.backend)
        if generated_token is not None:
            _announce_generated_token(generated_token)
        try:
            yield
        finally:
            try:
                # Bounded: closing pooled connections politely waits for a database that may be
                # frozen; past the bound the process exits and the sockets go with it.
                async with asyncio.timeout(_SHUTDOWN_CLEANUP_SECONDS):
                    await expiry_clock.stop()
                    await sweep.stop()
                    await mode_keeper.stop()
                    await feed.stop()
                    await database.dispose()
            except TimeoutError:
                logger.warning("shutdown clean-up took over %s s; exiting anyway", _SHUTDOWN_CLEANUP_SECONDS)

    app = FastAPI(
        title="hatchet-trace-flags",
        summary="Which Hatchet tasks start a new trace with a span link instead of a parent span.",
        version=_version(),
        lifespan=lifespan,
        # The bundled Swagger/ReDoc pages load assets from a CDN; the schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.hatchet_trace_flags = AppState(
        services=services,
        auth_throttle=AuthThrottle(
            per_client_rate=settings.auth_failures_per_client_rate,
            per_client_burst=settings.auth_failures_per_client_burst,
            rate=settings.auth_failures_rate,
            burst=settings.auth_failures_burst,
        ),
        retention_sweep=sweep,
        mode_keeper=mode_keeper,
        generated_admin_token=generated_token,
    )
    install_error_handlers(app)
    for router in API_ROUTERS:
        app.include_router(router)
    sessions = SessionKeys(
        tokens,
        SessionStore(database, idle_seconds=settings.session_idle_seconds),
        max_per_token=settings.max_sessions_per_token,
    )
    install_dashboard(app, sessions)  # last: its routes ("/", "/ui/...") never shadow the API's
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Both reports spend the same per-token budget; a token told to wait is refused before either
    # body is read (issue 27: an insight report was parsed in full before its rate limit).
    app.add_middleware(ReportGate, paths=(SEEN_PATH, INSIGHTS_PATH), limiter=seen_limiter, tokens=tokens)
    app.add_middleware(ReportGate, paths=(WORKER_REPORT_PATH,), limiter=worker_limiter, tokens=tokens)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: everything inside sees the client address a client cannot choose (issue 27).
    app.add_middleware(ForwardedHeaders, allow_ips=settings.forwarded_allow_ips, hops=settings.forwarded_hops)
    return app

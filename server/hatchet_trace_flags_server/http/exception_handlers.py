"""Exception handlers: every domain error becomes a 4xx problem (``core.problems``), with a clear detail."""

from __future__ import annotations

import logging
from typing import Final

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy.exc
from fastapi import FastAPI, Request, status
from fastapi.responses import Response

from hatchet_trace_flags.contract import RulesError
from hatchet_trace_flags_server.core.problems import install_problem_handlers, problem_response
from hatchet_trace_flags_server.core.ratelimit import RateLimited
from hatchet_trace_flags_server.core.records import NotFound, PreconditionFailed

from .auth import AuthError

__all__ = ["DATABASE_AWAY", "install_error_handlers"]

logger = logging.getLogger("hatchet_trace_flags_server")

# What a stopped, frozen, restarting or overloaded database raises through SQLAlchemy and asyncpg
# (connect and statement timeouts included). Each is a 503 the client may retry, not a bug.
DATABASE_AWAY: Final[tuple[type[Exception], ...]] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    asyncpg.CannotConnectNowError,
    TimeoutError,
    ConnectionError,
)
# Long enough for a restart or fail-over to finish, short enough to keep operators' changes moving.
_DATABASE_RETRY_AFTER_SECONDS: Final = 2


async def _rules_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RulesError)
    extra = {"field": error.field} if error.field else None
    return problem_response(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), extra=extra)


async def _not_found(_request: Request, error: Exception) -> Response:
    return problem_response(status.HTTP_404_NOT_FOUND, str(error))


async def _precondition_failed(_request: Request, error: Exception) -> Response:
    assert isinstance(error, PreconditionFailed)
    return problem_response(
        status.HTTP_412_PRECONDITION_FAILED, str(error), headers={"ETag": error.current_etag}
    )


async def _auth_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuthError)
    if request.url.path.startswith("/ofrep/"):
        # OFREP specifies 401/403 without a body.
        return Response(status_code=error.status_code, headers=error.headers)
    return problem_response(error.status_code, error.detail, headers=error.headers)


async def _rate_limited(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RateLimited)
    return problem_response(
        status.HTTP_429_TOO_MANY_REQUESTS, str(error), headers={"Retry-After": str(error.retry_after)}
    )


async def _database_away(request: Request, error: Exception) -> Response:
    # One line per request, no traceback: the cause is outside this process.
    logger.warning(
        "database unavailable for %s %s: %s", request.method, request.url.path, type(error).__name__
    )
    return problem_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the database is not answering; retry later (reads of the rule set keep being served)",
        headers={"Retry-After": str(_DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    install_problem_handlers(app)
    for error_type in DATABASE_AWAY:
        app.add_exception_handler(error_type, _database_away)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(RulesError, _rules_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(PreconditionFailed, _precondition_failed)
    app.add_exception_handler(AuthError, _auth_error)

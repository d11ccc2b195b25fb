"""Exception handlers: every domain error becomes a 4xx with a clear ``detail``."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response

from hatchet_trace_flags._rules import RulesError

from ._auth import AuthError
from ._ratelimit import RateLimited
from ._store import NotFound, PreconditionFailed

__all__ = ["install_error_handlers"]


async def _rules_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RulesError)
    return JSONResponse(
        {"detail": str(error), "field": error.field},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _not_found(_request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=status.HTTP_404_NOT_FOUND)


async def _precondition_failed(_request: Request, error: Exception) -> Response:
    assert isinstance(error, PreconditionFailed)
    return JSONResponse(
        {"detail": str(error)},
        status_code=status.HTTP_412_PRECONDITION_FAILED,
        headers={"ETag": error.current_etag},
    )


async def _auth_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuthError)
    if request.url.path.startswith("/ofrep/"):
        # OFREP specifies 401/403 without a body.
        return Response(status_code=error.status_code, headers=error.headers)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


async def _rate_limited(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RateLimited)
    return JSONResponse(
        {"detail": str(error)},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(error.retry_after)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(RulesError, _rules_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(PreconditionFailed, _precondition_failed)
    app.add_exception_handler(AuthError, _auth_error)

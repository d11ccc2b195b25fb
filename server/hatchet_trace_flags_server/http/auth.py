"""Who is calling: one FastAPI dependency that resolves an :class:`Identity`.

Bearer tokens (``Authorization: Bearer ...``, or ``X-API-Key`` as OFREP clients send it) are checked
first. Other ways to authenticate (e.g. a dashboard session cookie) plug in with
:func:`add_identity_resolver`; they are asked only when no token was presented.

:func:`authenticate` is the same check as a plain call, for the hottest route (the snapshot poll):
FastAPI solves each dependency of a request at some 25 us of CPU, and the four of ``ReadIdentity``
cost a 304 poll more than the rest of its work (issue 23).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from hatchet_trace_flags_server.core.tokens import Identity

from .app_state import IdentityResolver, state_of
from .auth_throttle import client_address

__all__ = [
    "READ_SECURITY",
    "AdminIdentity",
    "AuthError",
    "IdentityResolver",
    "ReadIdentity",
    "add_identity_resolver",
    "authenticate",
    "require_admin",
    "require_read",
    "resolve_identity",
]

_bearer = HTTPBearer(auto_error=False, description="An admin or read token.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same tokens, as OFREP clients send them."
)
# What a route that calls :func:`authenticate` itself declares in OpenAPI (``openapi_extra``), as
# FastAPI documents a route with ``ReadIdentity``: either scheme.
READ_SECURITY: Final[dict[str, Any]] = {"security": [{_bearer.scheme_name: []}, {_api_key.scheme_name: []}]}


class AuthError(HTTPException):
    """401 (no or unknown credentials) or 403 (valid credentials, wrong scope)."""

    def __init__(self, status_code: int, detail: str) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status_code == status.HTTP_401_UNAUTHORIZED else None
        super().__init__(status_code=status_code, detail=detail, headers=headers)


def add_identity_resolver(app: FastAPI, resolver: IdentityResolver) -> None:
    """Register another way to authenticate (tried in order, after bearer tokens)."""
    state_of(app).identity_resolvers.append(resolver)


async def resolve_identity(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Identity:
    return await _identify(request, bearer.credentials if bearer is not None else api_key)


async def authenticate(request: Request) -> Identity:
    """:func:`resolve_identity` without FastAPI's dependencies: the token read from the headers as
    ``HTTPBearer`` and ``APIKeyHeader`` read it. Any valid identity (read scope)."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    bearer = credentials if scheme.lower() == "bearer" and credentials else None
    return await _identify(request, bearer or request.headers.get("x-api-key"))


async def _identify(request: Request, presented: str | None) -> Identity:
    if presented:
        state = state_of(request.app)
        throttle = state.auth_throttle
        client = client_address(request)
        throttle.check(client)
        identity = state.services.tokens.identify(presented)
        if identity is None:
            throttle.failed(client)
            raise AuthError(status.HTTP_401_UNAUTHORIZED, "invalid token")
        return identity
    for resolver in state_of(request.app).identity_resolvers:
        identity = await resolver(request)
        if identity is not None:
            return identity
    raise AuthError(status.HTTP_401_UNAUTHORIZED, "missing credentials: send Authorization: Bearer <token>")


async def require_read(identity: Annotated[Identity, Depends(resolve_identity)]) -> Identity:
    """Any valid identity: read scope is the least one, admin includes it."""
    return identity


async def require_admin(identity: Annotated[Identity, Depends(resolve_identity)]) -> Identity:
    if not identity.is_admin:
        raise AuthError(status.HTTP_403_FORBIDDEN, f"{identity.name!r} has read scope; this needs admin")
    return identity


ReadIdentity = Annotated[Identity, Depends(require_read)]
AdminIdentity = Annotated[Identity, Depends(require_admin)]

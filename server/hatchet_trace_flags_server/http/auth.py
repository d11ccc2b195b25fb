"""Who is calling: one FastAPI dependency that resolves an :class:`Identity`.

Bearer tokens (``Authorization: Bearer ...``, or ``X-API-Key`` as OFREP clients send it) are checked
first. Other ways to authenticate (e.g. a dashboard session cookie) plug in with
:func:`add_identity_resolver`; they are asked only when no token was presented.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hatchet_trace_flags_server.core.tokens import Identity

from .app_state import IdentityResolver, state_of
from .auth_throttle import client_address

__all__ = [
    "AdminIdentity",
    "AuthError",
    "IdentityResolver",
    "ReadIdentity",
    "add_identity_resolver",
    "require_admin",
    "require_read",
    "resolve_identity",
]

_bearer = HTTPBearer(auto_error=False, description="An admin or read token.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same tokens, as OFREP clients send them."
)


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
    presented = bearer.credentials if bearer is not None else api_key
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

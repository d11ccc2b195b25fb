"""The hatchet-trace-flags admin service: rules API, OFREP, change stream. See docs/server.md.

Imports are lazy so the CLI's client commands start without loading the server stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app.factory import create_app
    from .core.settings import Settings
    from .core.tokens import Identity
    from .http.auth import add_identity_resolver, require_admin, require_read, resolve_identity

__all__ = [
    "Identity",
    "Settings",
    "add_identity_resolver",
    "create_app",
    "require_admin",
    "require_read",
    "resolve_identity",
]

_HOMES = {
    "Identity": ".core.tokens",
    "Settings": ".core.settings",
    "add_identity_resolver": ".http.auth",
    "create_app": ".app.factory",
    "require_admin": ".http.auth",
    "require_read": ".http.auth",
    "resolve_identity": ".http.auth",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home, __name__), name)

"""The hatchet-trace-flags admin service: rules API, OFREP, change stream. See docs/server.md.

Imports are lazy so the CLI's client commands start without loading the server stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._auth import add_identity_resolver, require_admin, require_read, resolve_identity
    from ._settings import Settings
    from ._tokens import Identity

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
    "Identity": "._tokens",
    "Settings": "._settings",
    "add_identity_resolver": "._auth",
    "create_app": "._app",
    "require_admin": "._auth",
    "require_read": "._auth",
    "resolve_identity": "._auth",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home, __name__), name)

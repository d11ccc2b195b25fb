"""The flag dashboard at ``/``: tasks, patterns, settings and history, live. See docs/dashboard.md.

Server-rendered with Jinja2; htmx (vendored under ``static/``) swaps the fragments the ``/ui/...``
routes return, and plain forms work without it. Every change goes through the service layer
(``FlagService``), as the JSON API's do, so validation, ``If-Match`` versions and the audit log are
shared; the effective mode and its reason come from the served rule set.
Open pages follow ``/api/v1/events`` and refresh what a change touched.

A package: ``rendering`` (templates, errors), ``access`` (who is signed in, the CSRF check),
``inputs`` (form and query models), ``routing`` (the router; refused input as dashboard errors),
``views`` (what pages show), ``pages`` and ``writes`` (the routes), ``insights`` (the fan-out
insight page and its actions).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hatchet_trace_flags_server.http.auth import add_identity_resolver
from hatchet_trace_flags_server.http.dependencies import Services
from hatchet_trace_flags_server.http.sessions import SessionKeys
from hatchet_trace_flags_server.store.sessions import SessionStore

from . import insights, pages, writes  # noqa: F401  (importing them registers their routes on the router)
from .rendering import STATIC_DIR, DashboardError, _dashboard_error, _sign_in_required, _SignInRequired
from .routing import router

__all__ = ["install_dashboard", "router"]


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` and let its session cookie authenticate API calls too."""
    services: Services = app.state.services
    store = SessionStore(services.database, idle_seconds=services.settings.session_idle_seconds)
    keys = SessionKeys(services.tokens, store)
    app.state.dashboard_sessions = keys
    add_identity_resolver(app, keys.resolve)
    app.add_exception_handler(DashboardError, _dashboard_error)
    app.add_exception_handler(_SignInRequired, _sign_in_required)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

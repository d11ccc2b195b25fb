"""The flag dashboard at ``/``: tasks, patterns, settings and history, live. See docs/dashboard.md.

Server-rendered with Jinja2; htmx (vendored under ``static/``) swaps the fragments the ``/ui/...``
routes return, and plain forms work without it. Every change goes through the service layer
(``FlagService``), as the JSON API's do, so validation, ``If-Match`` versions and the audit log are
shared; the effective mode and its reason come from the served rule set.
Open pages follow ``/api/v1/events`` and refresh what a change touched.

A package: ``rendering`` (templates, errors), ``access`` (who is signed in, the CSRF check),
``inputs`` (form and query models), ``routing`` (the route class: refused input as dashboard errors),
``views`` (what pages show), ``pages`` and ``writes`` (routers that read and write), ``insights`` (the fan-out
insight page and its actions), ``audit`` (the audit page, admin only), ``pattern_preview`` (how many
tasks a pattern being typed names).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hatchet_trace_flags_server.http.app_state import state_of
from hatchet_trace_flags_server.http.auth import add_identity_resolver
from hatchet_trace_flags_server.http.sessions import SessionKeys

from . import audit, insights, pages, pattern_preview, workers, writes
from .rendering import STATIC_DIR, DashboardError, SignInRequired, dashboard_error, sign_in_required

__all__ = ["install_dashboard"]


def install_dashboard(app: FastAPI, keys: SessionKeys) -> None:
    """Serve the dashboard from ``app`` and let its session cookie authenticate API calls too.
    ``keys`` signs and checks session cookies against the session table (the app factory builds it:
    routes never build storage)."""
    state_of(app).dashboard_sessions = keys
    add_identity_resolver(app, keys.resolve)
    app.add_exception_handler(DashboardError, dashboard_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    for routes in (pages, writes, insights, audit, pattern_preview, workers):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

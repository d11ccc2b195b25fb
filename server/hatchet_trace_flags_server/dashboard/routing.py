"""The dashboard's router and its route class: forms read once with the dashboard's limits, and
input that FastAPI's form and query models refuse answered as a dashboard error (an HTML page, or
an htmx notice), never as the API's ``application/problem+json``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from .access import read_form
from .inputs import invalid_input

__all__ = ["DashboardRoute", "dashboard_router"]


class DashboardRoute(APIRoute):
    """A dashboard route. Dashboard routes take forms and query strings, never JSON bodies, so the
    API's strict-JSON route class has nothing to do here; this one reads the form first, so that
    FastAPI, the CSRF check and the handler all see the same body parsed once, within the
    dashboard's limits."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def dashboard(request: Request) -> Response:
            if request.method == "POST":
                await read_form(request)
            try:
                return await handler(request)
            except RequestValidationError as error:
                raise invalid_input(error) from None

        return dashboard


def dashboard_router() -> APIRouter:
    """A router for one family of dashboard routes; ``install_dashboard`` includes each one."""
    return APIRouter(route_class=DashboardRoute, include_in_schema=False)

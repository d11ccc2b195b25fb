"""Fixtures for the dashboard: a real server, signed-in HTTP clients and real Chromium (defined in
``tests.support.server.dashboard``).
"""

from tests.support.server.dashboard import (
    api,
    browser,
    dashboard,
    http_browser,
    people,
    seeded,
    worker_api,
)

# pytest finds fixtures by name in this module.
__all__ = [
    "api",
    "browser",
    "dashboard",
    "http_browser",
    "people",
    "seeded",
    "worker_api",
]

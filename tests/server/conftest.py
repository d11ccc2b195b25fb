"""Fixtures for the admin service: one real server per test, on SQLite and on PostgreSQL (defined in
``tests.support.server.live``).
"""

from tests.support.server.live import (
    backend,
    client,
    database_url,
    live,
    live_factory,
    live_servers_stopped_at_the_end,
    make_settings,
    postgres_database,
    postgres_url,
    reader,
)

# pytest finds fixtures by name in this module.
__all__ = [
    "backend",
    "client",
    "database_url",
    "live",
    "live_factory",
    "live_servers_stopped_at_the_end",
    "make_settings",
    "postgres_database",
    "postgres_url",
    "reader",
]

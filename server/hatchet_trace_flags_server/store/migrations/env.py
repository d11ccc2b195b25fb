"""Alembic environment. The service runs migrations itself (``Database.migrate``) on a connection it
passes in ``config.attributes["connection"]``; there is no alembic.ini and no offline mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hatchet_trace_flags_server.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "hatchet-trace-flags migrations run at service start-up (hatchet-trace-flags serve); "
        "they need a connection in config.attributes['connection']"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()

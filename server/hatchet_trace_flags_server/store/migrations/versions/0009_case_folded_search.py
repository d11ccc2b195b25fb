"""One case folding for search on both databases: a stored case-folded name.

SQLite's LIKE and lower() fold ASCII only (``q=ÄBC`` missed ``Uni:ÄBCDEF``), and PostgreSQL's lower()
keeps a final sigma apart from a medial one, so neither matched Python's folding. Each name now carries
its folded form computed in Python (``core/folding.py``), stored only where it differs from the name:

- ``seen_tasks.action_id_folded``, ``task_rules.action_id_folded``, ``pattern_rules.pattern_folded``
  (NULL when folding changes nothing; search compares ``coalesce(folded, name)``), backfilled here;
- PostgreSQL: the trigram index ``ix_seen_tasks_search`` is rebuilt on that expression (it was on
  ``lower(action_id)``), when pg_trgm can be had, as in 0006;
- SQLite: ``seen_tasks_search`` becomes a contentless FTS5 trigram table of the same expression, fed by
  the triggers (it indexed ``action_id`` through external content), when FTS5 has the trigram tokenizer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hatchet_trace_flags_server.core.names.folding import folded_or_none

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_log = logging.getLogger("hatchet_trace_flags_server.migrations")
_BATCH = 5000
_FOLDED = {"seen_tasks": "action_id", "task_rules": "action_id", "pattern_rules": "pattern"}

# The text searched, coalesce(action_id_folded, action_id), spelled out in each statement.
_SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE seen_tasks_search USING fts5(action_id, content='', tokenize='trigram')",
    "CREATE TRIGGER seen_tasks_search_insert AFTER INSERT ON seen_tasks BEGIN "
    "INSERT INTO seen_tasks_search (rowid, action_id) "
    "VALUES (new.rowid, coalesce(new.action_id_folded, new.action_id)); END",
    "CREATE TRIGGER seen_tasks_search_delete AFTER DELETE ON seen_tasks BEGIN "
    "INSERT INTO seen_tasks_search (seen_tasks_search, rowid, action_id) "
    "VALUES ('delete', old.rowid, coalesce(old.action_id_folded, old.action_id)); END",
    "CREATE TRIGGER seen_tasks_search_update AFTER UPDATE OF action_id, action_id_folded ON seen_tasks "
    "BEGIN INSERT INTO seen_tasks_search (seen_tasks_search, rowid, action_id) "
    "VALUES ('delete', old.rowid, coalesce(old.action_id_folded, old.action_id)); "
    "INSERT INTO seen_tasks_search (rowid, action_id) "
    "VALUES (new.rowid, coalesce(new.action_id_folded, new.action_id)); END",
    "INSERT INTO seen_tasks_search (rowid, action_id) "
    "SELECT rowid, coalesce(action_id_folded, action_id) FROM seen_tasks",
)
_POSTGRES_SEARCHED = "(coalesce(action_id_folded, action_id))"
# What 0006 created, for the downgrade.
_SQLITE_SEARCH_0006 = (
    "CREATE VIRTUAL TABLE seen_tasks_search USING fts5("
    "action_id, content='seen_tasks', content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER seen_tasks_search_insert AFTER INSERT ON seen_tasks BEGIN "
    "INSERT INTO seen_tasks_search (rowid, action_id) VALUES (new.rowid, new.action_id); END",
    "CREATE TRIGGER seen_tasks_search_delete AFTER DELETE ON seen_tasks BEGIN "
    "INSERT INTO seen_tasks_search (seen_tasks_search, rowid, action_id) "
    "VALUES ('delete', old.rowid, old.action_id); END",
    "CREATE TRIGGER seen_tasks_search_update AFTER UPDATE OF action_id ON seen_tasks BEGIN "
    "INSERT INTO seen_tasks_search (seen_tasks_search, rowid, action_id) "
    "VALUES ('delete', old.rowid, old.action_id); "
    "INSERT INTO seen_tasks_search (rowid, action_id) VALUES (new.rowid, new.action_id); END",
    "INSERT INTO seen_tasks_search (seen_tasks_search) VALUES ('rebuild')",
)


def upgrade() -> None:
    bind = op.get_bind()
    for table, key in _FOLDED.items():
        op.add_column(table, sa.Column(f"{key}_folded", sa.Text, nullable=True))
        _backfill(bind, table, key)
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_seen_tasks_search")
        _create_trigram_index(bind, _POSTGRES_SEARCHED)
    else:
        _drop_search_table()
        _create_search_table(bind, _SQLITE_SEARCH)


def _backfill(bind: sa.Connection, name: str, key: str) -> None:
    """Fold every name in Python (the databases cannot), in key order and batches; write only the
    few that folding changes."""
    table = sa.table(name, sa.column(key, sa.String), sa.column(f"{key}_folded", sa.Text))
    update = (
        table.update()
        .where(table.c[key] == sa.bindparam("key"))
        .values({f"{key}_folded": sa.bindparam("folded")})
    )
    after = ""
    while True:
        names = list(
            bind.execute(
                sa.select(table.c[key]).where(table.c[key] > after).order_by(table.c[key]).limit(_BATCH)
            ).scalars()
        )
        if not names:
            return
        changed = [{"key": item, "folded": folded} for item in names if (folded := folded_or_none(item))]
        if changed:
            bind.execute(update, changed)
        after = names[-1]


def _create_trigram_index(bind: sa.Connection, expression: str) -> None:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        _log.warning(
            "pg_trgm is not available (%s): task search scans seen_tasks; a superuser can run "
            "CREATE EXTENSION pg_trgm and CREATE INDEX ix_seen_tasks_search ON seen_tasks "
            "USING gin (%s gin_trgm_ops) WITH (fastupdate = off)",
            error.orig,
            expression,
        )
        return
    # fastupdate off, as in 0006: new rows go straight into the index.
    bind.exec_driver_sql(
        f"CREATE INDEX ix_seen_tasks_search ON seen_tasks USING gin ({expression} gin_trgm_ops) "
        "WITH (fastupdate = off)"
    )


def _drop_search_table() -> None:
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS seen_tasks_search_{trigger}")
    op.execute("DROP TABLE IF EXISTS seen_tasks_search")


def _create_search_table(bind: sa.Connection, statements: Sequence[str]) -> None:
    try:
        with bind.begin_nested():
            for statement in statements:
                bind.exec_driver_sql(statement)
    except sa.exc.OperationalError as error:
        _log.warning("SQLite has no FTS5 trigram tokenizer (%s): task search scans seen_tasks", error.orig)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_seen_tasks_search")
        _create_trigram_index(bind, "lower(action_id)")
    else:
        _drop_search_table()
    for table, key in _FOLDED.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_column(f"{key}_folded")
    if bind.dialect.name != "postgresql":
        _create_search_table(bind, _SQLITE_SEARCH_0006)

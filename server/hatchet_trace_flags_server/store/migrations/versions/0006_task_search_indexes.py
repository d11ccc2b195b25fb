"""Indexes for filtering a million discovered tasks by effective mode and by substring.

- ``seen_tasks.action_id_reversed`` (backfilled here, written with every new row) and its index: a
  suffix pattern ``*:send`` is a prefix of the reversed name, so an index range serves it.
- PostgreSQL: ``action_id text_pattern_ops`` (serves ``LIKE 'prefix%'`` in any collation) and, when
  the role may create the ``pg_trgm`` extension (trusted since PostgreSQL 13), a trigram GIN index
  on ``lower(action_id)`` that serves ``lower(action_id) LIKE '%text%'``. Without the extension the
  migration logs a warning and search scans the table, as before.
- SQLite: an FTS5 ``trigram`` table over ``seen_tasks.action_id`` (external content, kept in step by
  triggers) that the task list uses for searches of three characters or more. Without FTS5 or its
  trigram tokenizer (SQLite 3.34+) the migration logs a warning and search scans the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_log = logging.getLogger("hatchet_trace_flags_server.migrations")
_BATCH = 5000

_SQLITE_SEARCH = (
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
    postgres = bind.dialect.name == "postgresql"
    op.add_column("seen_tasks", sa.Column("action_id_reversed", sa.String(255), nullable=True))
    if postgres:
        op.execute("UPDATE seen_tasks SET action_id_reversed = reverse(action_id)")
    else:
        _backfill_sqlite(bind)
    with op.batch_alter_table("seen_tasks") as batch:
        batch.alter_column("action_id_reversed", existing_type=sa.String(255), nullable=False)
    op.create_index(
        "ix_seen_tasks_action_id_reversed",
        "seen_tasks",
        ["action_id_reversed"],
        postgresql_ops={"action_id_reversed": "text_pattern_ops"},
    )
    if postgres:
        op.execute("CREATE INDEX ix_seen_tasks_action_id_pattern ON seen_tasks (action_id text_pattern_ops)")
        _create_trigram_index(bind)
    else:
        _create_search_table(bind)


def _backfill_sqlite(bind: sa.Connection) -> None:
    # SQLite has no reverse(): read the names in key order, write them back reversed.
    table = sa.table(
        "seen_tasks", sa.column("action_id", sa.String), sa.column("action_id_reversed", sa.String)
    )
    update = (
        table.update()
        .where(table.c.action_id == sa.bindparam("key"))
        .values(action_id_reversed=sa.bindparam("reversed"))
    )
    after = ""
    while True:
        names = list(
            bind.execute(
                sa.select(table.c.action_id)
                .where(table.c.action_id > after)
                .order_by(table.c.action_id)
                .limit(_BATCH)
            ).scalars()
        )
        if not names:
            return
        bind.execute(update, [{"key": name, "reversed": name[::-1]} for name in names])
        after = names[-1]


def _create_trigram_index(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        _log.warning(
            "pg_trgm is not available (%s): task search scans seen_tasks; a superuser can run "
            "CREATE EXTENSION pg_trgm and CREATE INDEX ix_seen_tasks_search ON seen_tasks "
            "USING gin (lower(action_id) gin_trgm_ops) WITH (fastupdate = off)",
            error.orig,
        )
        return
    # fastupdate off: new rows go straight into the index. With it on they would wait in a pending
    # list (up to 4 MB) that every search reads through, and the insert that overflows it pays
    # for merging the whole list; a bulk insert left searches at over a second until a vacuum.
    bind.exec_driver_sql(
        "CREATE INDEX ix_seen_tasks_search ON seen_tasks USING gin (lower(action_id) gin_trgm_ops) "
        "WITH (fastupdate = off)"
    )


def _create_search_table(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():
            for statement in _SQLITE_SEARCH:
                bind.exec_driver_sql(statement)
    except sa.exc.OperationalError as error:
        _log.warning("SQLite has no FTS5 trigram tokenizer (%s): task search scans seen_tasks", error.orig)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_seen_tasks_search")
        op.execute("DROP INDEX IF EXISTS ix_seen_tasks_action_id_pattern")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS seen_tasks_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS seen_tasks_search")
    op.drop_index("ix_seen_tasks_action_id_reversed", "seen_tasks")
    with op.batch_alter_table("seen_tasks") as batch:
        batch.drop_column("action_id_reversed")

"""Initial schema: rule state, task and pattern rules, seen tasks, audit events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rule_state = op.create_table(
        "rule_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("default_mode", sa.String(16), nullable=False),
        sa.Column("links_enabled", sa.Boolean, nullable=False),
        sa.Column("settings_version", sa.BigInteger, nullable=False),
        sa.Column("settings_note", sa.Text, nullable=True),
        sa.Column("settings_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settings_updated_by", sa.String(64), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_rule_state_single_row"),
    )
    op.bulk_insert(
        rule_state,
        [
            {
                "id": 1,
                "revision": 0,
                "default_mode": "parent",
                "links_enabled": True,
                "settings_version": 0,
            }
        ],
    )
    for table, key, length in (("task_rules", "action_id", 255), ("pattern_rules", "pattern", 256)):
        op.create_table(
            table,
            sa.Column(key, sa.String(length), primary_key=True),
            sa.Column("mode", sa.String(16), nullable=True),
            sa.Column("note", sa.Text, nullable=True),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_by", sa.String(64), nullable=False),
        )
    op.create_table(
        "seen_tasks",
        sa.Column("action_id", sa.String(255), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_worker", sa.String(255), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("revision", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(256), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("etag", sa.String(80), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_key", "audit_events", ["key"])


def downgrade() -> None:
    for table in ("audit_events", "seen_tasks", "pattern_rules", "task_rules", "rule_state"):
        op.drop_table(table)

"""Time-boxed settings: a task, a pattern or the kill switch written with ``until`` returns to the state
stored beside it (``reverts_to``) at that time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("task_rules", "pattern_rules"):
        op.add_column(table, sa.Column("until", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("reverts_to", sa.String(16), nullable=True))
        op.create_index(f"ix_{table}_until", table, ["until"])
    op.add_column("rule_state", sa.Column("links_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("rule_state", sa.Column("links_reverts_to", sa.Boolean, nullable=True))
    # Who set the kill switch's expiry: a later change of the default alone keeps the expiry but not
    # settings_updated_by, and the revert's audit entry names the one who set it.
    op.add_column("rule_state", sa.Column("links_until_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rule_state") as batch:
        for column in ("links_until_by", "links_reverts_to", "links_until"):
            batch.drop_column(column)
    for table in ("pattern_rules", "task_rules"):
        op.drop_index(f"ix_{table}_until", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("reverts_to")
            batch.drop_column("until")

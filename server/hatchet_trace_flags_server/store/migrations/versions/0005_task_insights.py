"""Fan-out insight: per-task, per-minute summaries from workers, and dismissed recommendations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_insights",
        sa.Column("action_id", sa.String(255), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_task_insights_minute", "task_insights", ["minute"])
    op.create_table(
        "insight_dismissals",
        sa.Column("action_id", sa.String(255), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dismissed_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("insight_dismissals")
    op.drop_index("ix_task_insights_minute", "task_insights")
    op.drop_table("task_insights")

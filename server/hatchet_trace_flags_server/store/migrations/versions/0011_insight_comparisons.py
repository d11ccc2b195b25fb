"""Before and after a mode change: the insight numbers of both sides, kept past the insight window.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insight_comparisons",
        sa.Column("action_id", sa.String(255), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("from_mode", sa.String(16), nullable=True),
        sa.Column("to_mode", sa.String(16), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("after_complete", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("insight_comparisons")

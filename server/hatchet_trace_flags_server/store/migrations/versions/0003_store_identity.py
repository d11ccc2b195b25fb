"""Store identity: a random id given to each database when it is created (or first upgraded).

Workers see it in ``X-Rules-Store`` on every snapshot and OFREP bulk response; a different id
means a different database (an empty one after a misconfigured restart, a restored copy of
another environment), which they report loudly instead of silently switching rule sets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_store_identity_single_row"),
    )
    # 32 hex characters: within the 1-64 ASCII alphanumerics workers accept.
    op.bulk_insert(table, [{"id": 1, "store_id": secrets.token_hex(16), "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("store_identity")

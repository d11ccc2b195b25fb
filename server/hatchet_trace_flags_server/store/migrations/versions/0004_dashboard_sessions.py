"""Server-side dashboard sessions: signing out ends a session on every replica, idle ones expire.

The cookie stays signed as before; a session is valid only while its row exists. The id is a
SHA-256 of the cookie's nonce, so the table holds nothing a cookie could be rebuilt from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_dashboard_sessions_last_seen", "dashboard_sessions", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_last_seen", "dashboard_sessions")
    op.drop_table("dashboard_sessions")

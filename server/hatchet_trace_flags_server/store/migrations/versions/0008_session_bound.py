"""Dashboard sessions bounded per token, found by token: index (identity, last_seen).

Signing in used to delete ended sessions of every token with a condition no index served (a full
scan per sign-in) and kept any number of sessions per token (issue 27). Now a sign-in reads only its
token's rows through this index. The old index on last_seen alone served nothing else and goes.

Cookies are signed with itsdangerous from this release on, so no earlier cookie verifies: the rows
of those sessions are deleted here (a one-time sign-out, noted in CHANGELOG.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM dashboard_sessions")
    op.drop_index("ix_dashboard_sessions_last_seen", "dashboard_sessions")
    op.create_index(
        "ix_dashboard_sessions_identity_last_seen", "dashboard_sessions", ["identity", "last_seen"]
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_identity_last_seen", "dashboard_sessions")
    op.create_index("ix_dashboard_sessions_last_seen", "dashboard_sessions", ["last_seen"])

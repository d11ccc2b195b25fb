"""Indexes for bounded growth and large lists: the retention sweep and "sort by last seen" read
``seen_tasks`` by ``last_seen``; "sort by last changed" reads ``task_rules`` by ``updated_at``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_seen_tasks_last_seen", "seen_tasks", ["last_seen", "action_id"])
    op.create_index("ix_task_rules_updated_at", "task_rules", ["updated_at", "action_id"])


def downgrade() -> None:
    op.drop_index("ix_task_rules_updated_at", "task_rules")
    op.drop_index("ix_seen_tasks_last_seen", "seen_tasks")

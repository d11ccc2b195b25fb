"""The effective mode kept per discovered task (issue 23): ``seen_tasks.effective_mode`` and
``seen_tasks.mode_rule`` (the action_id or pattern that decided it), decided by the contract's
``RuleSet``, with indexes lists filter and sort on. Lists evaluated every pattern in SQL before (a CASE
of up to 10,000 branches per row): seconds per list, 503s and a stalled event loop at scale.

Existing rows are backfilled here with the rule set as stored, in key order and batches; and
``rule_state.modes_revision`` records the revision whose modes are all stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hatchet_trace_flags.contract import Mode, RuleSet

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
_INDEXES = {
    "ix_seen_tasks_effective_mode": ["effective_mode", "action_id"],
    "ix_seen_tasks_effective_mode_seen": ["effective_mode", "last_seen", "action_id"],
}


def upgrade() -> None:
    op.add_column("seen_tasks", sa.Column("effective_mode", sa.String(16), nullable=True))
    op.add_column("seen_tasks", sa.Column("mode_rule", sa.String(256), nullable=True))
    op.add_column("rule_state", sa.Column("modes_revision", sa.BigInteger, nullable=True))
    bind = op.get_bind()
    _backfill(bind, _stored_rules(bind))
    op.execute("UPDATE rule_state SET modes_revision = revision")
    # After the backfill: building an index once is cheaper than keeping it through a million updates.
    for name, columns in _INDEXES.items():
        op.create_index(name, "seen_tasks", columns)


def _stored_rules(bind: sa.Connection) -> RuleSet:
    settings = sa.text("SELECT default_mode, links_enabled FROM rule_state WHERE id = 1")
    state = bind.execute(settings).one_or_none()
    tasks = bind.execute(sa.text("SELECT action_id, mode FROM task_rules WHERE mode IS NOT NULL")).all()
    patterns = bind.execute(sa.text("SELECT pattern, mode FROM pattern_rules WHERE mode IS NOT NULL")).all()
    default: Mode = "link" if state is not None and state[0] == "link" else "parent"
    links_enabled = bool(state[1]) if state is not None else True
    return RuleSet(
        default=default,
        links_enabled=links_enabled,
        tasks={str(key): mode for key, mode in tasks},
        patterns={str(key): mode for key, mode in patterns},
    )


def _backfill(bind: sa.Connection, rules: RuleSet) -> None:
    table = sa.table(
        "seen_tasks",
        sa.column("action_id", sa.String),
        sa.column("effective_mode", sa.String),
        sa.column("mode_rule", sa.String),
    )
    update = (
        table.update()
        .where(table.c.action_id == sa.bindparam("key"))
        .values(effective_mode=sa.bindparam("mode"), mode_rule=sa.bindparam("rule"))
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
        decided = [(name, rules.evaluate(name)) for name in names]
        values = [{"key": name, "mode": decision.mode, "rule": decision.rule} for name, decision in decided]
        bind.execute(update, values)
        after = names[-1]


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, "seen_tasks")
    # In place on both backends (SQLite 3.35+): a rebuilt table would renumber the rowids the search
    # table (migration 0009) refers to.
    for column in ("mode_rule", "effective_mode"):
        op.execute(f"ALTER TABLE seen_tasks DROP COLUMN {column}")
    op.execute("ALTER TABLE rule_state DROP COLUMN modes_revision")

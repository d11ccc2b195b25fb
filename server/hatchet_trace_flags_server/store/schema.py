"""The database tables (SQLAlchemy Core). Migrations in ``migrations`` create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from hatchet_trace_flags_server.core.names.folding import folded_column_default

__all__ = [
    "DIALECT_OBJECTS",
    "SEARCH_TABLE",
    "audit_events",
    "dashboard_sessions",
    "insight_comparisons",
    "insight_dismissals",
    "metadata",
    "pattern_rules",
    "rule_state",
    "seen_tasks",
    "store_identity",
    "task_insights",
    "task_rules",
    "utcnow",
    "workers",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

# One row: the rule-set revision (bumped by every change, which also serialises writers), the
# settings and their own version.
rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("default_mode", sa.String(16), nullable=False),
    sa.Column("links_enabled", sa.Boolean, nullable=False),
    sa.Column("settings_version", sa.BigInteger, nullable=False),
    sa.Column("settings_note", sa.Text, nullable=True),
    sa.Column("settings_updated_at", UTCDateTime, nullable=True),
    sa.Column("settings_updated_by", sa.String(64), nullable=True),
    # The kill switch's pending expiry (migration 0010): when, back to what, set by whom.
    sa.Column("links_until", UTCDateTime, nullable=True),
    sa.Column("links_reverts_to", sa.Boolean, nullable=True),
    sa.Column("links_until_by", sa.String(64), nullable=True),
    # The revision whose effective modes are all stored (migration 0012): a process starting at a later
    # one decides every discovered task again (a recompute may have stopped half-way).
    sa.Column("modes_revision", sa.BigInteger, nullable=True),
    sa.CheckConstraint("id = 1", name="ck_rule_state_single_row"),
)

# Which database this is (migration 0003): a random id, sent to workers as X-Rules-Store.
store_identity = sa.Table(
    "store_identity",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("id = 1", name="ck_store_identity_single_row"),
)

# Dashboard sessions (migration 0004): a signed cookie is valid only while its row exists.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("identity", sa.String(64), nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),  # Unix seconds
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    # A token's sessions by last use (migration 0008): the sign-in bound and clean-up read only these.
    sa.Index("ix_dashboard_sessions_identity_last_seen", "identity", "last_seen"),
)

# A row outlives its rule: clearing sets mode to NULL and bumps the version, so an old If-Match
# can never match a rule that was deleted and created again.
task_rules = sa.Table(
    "task_rules",
    metadata,
    sa.Column("action_id", sa.String(255), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    # The case-folded name when it differs from action_id (migration 0009, core/folding.py): search
    # compares coalesce(action_id_folded, action_id). Text: folding can lengthen a name (ß -> ss).
    sa.Column("action_id_folded", sa.Text, nullable=True, default=folded_column_default("action_id")),
    # A pending expiry (migration 0010): at ``until`` the mode returns to ``reverts_to`` (NULL: no mode
    # of its own). updated_by is who set it: any later write clears both.
    sa.Column("until", UTCDateTime, nullable=True),
    sa.Column("reverts_to", sa.String(16), nullable=True),
    sa.Index("ix_task_rules_updated_at", "updated_at", "action_id"),
    sa.Index("ix_task_rules_until", "until"),
)

pattern_rules = sa.Table(
    "pattern_rules",
    metadata,
    sa.Column("pattern", sa.String(256), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("pattern_folded", sa.Text, nullable=True, default=folded_column_default("pattern")),
    sa.Column("until", UTCDateTime, nullable=True),
    sa.Column("reverts_to", sa.String(16), nullable=True),
    sa.Index("ix_pattern_rules_until", "until"),
)

seen_tasks = sa.Table(
    "seen_tasks",
    metadata,
    sa.Column("action_id", sa.String(255), primary_key=True),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("last_worker", sa.String(255), nullable=False),
    # action_id backwards (migration 0006), written with the row: a suffix pattern ("*:send") is
    # then a prefix of this column, which an index serves like a prefix of action_id.
    sa.Column("action_id_reversed", sa.String(255), nullable=False),
    sa.Column("action_id_folded", sa.Text, nullable=True, default=folded_column_default("action_id")),
    # The task's effective mode under the rule set and the rule (action_id or pattern) that decided it
    # (migration 0012), decided by the contract's RuleSet and kept current by store/task_modes.py, so
    # lists filter and sort on an index instead of evaluating every pattern in SQL. NULL: not decided yet.
    sa.Column("effective_mode", sa.String(16), nullable=True),
    sa.Column("mode_rule", sa.String(256), nullable=True),
    sa.Index("ix_seen_tasks_last_seen", "last_seen", "action_id"),
    sa.Index("ix_seen_tasks_effective_mode", "effective_mode", "action_id"),
    sa.Index("ix_seen_tasks_effective_mode_seen", "effective_mode", "last_seen", "action_id"),
    # text_pattern_ops: PostgreSQL serves LIKE 'prefix%' from it whatever the collation.
    sa.Index(
        "ix_seen_tasks_action_id_reversed",
        "action_id_reversed",
        postgresql_ops={"action_id_reversed": "text_pattern_ops"},
    ),
)

# Objects migrations 0006 and 0009 create on one backend only, outside this metadata: on PostgreSQL a
# text_pattern_ops index on action_id (prefix patterns) and a pg_trgm index on
# coalesce(action_id_folded, action_id) (substring search; absent when the role may not create the
# extension); on SQLite a contentless FTS5 trigram table of the same text, kept in step with
# seen_tasks by triggers (substring search).
SEARCH_TABLE = "seen_tasks_search"
DIALECT_OBJECTS = {
    "postgresql": ("ix_seen_tasks_action_id_pattern", "ix_seen_tasks_search"),
    "sqlite": (
        SEARCH_TABLE,
        "seen_tasks_search_insert",
        "seen_tasks_search_delete",
        "seen_tasks_search_update",
    ),
}

# Fan-out summaries workers sent (docs/insight.md), merged per task and per minute of arrival: a
# task has at most one row per minute of the insight window, whatever the number of workers.
task_insights = sa.Table(
    "task_insights",
    metadata,
    sa.Column("action_id", sa.String(255), primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),  # Unix minutes
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Index("ix_task_insights_minute", "minute"),
)

# A recommendation an operator dismissed: not shown again while it recommends the same mode.
insight_dismissals = sa.Table(
    "insight_dismissals",
    metadata,
    sa.Column("action_id", sa.String(255), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("dismissed_at", UTCDateTime, nullable=False),
    sa.Column("dismissed_by", sa.String(64), nullable=False),
)

# Before and after a task's latest mode change (migration 0011, services/before_after.py): the insight
# numbers of the window before it and the window after it, each merged into one document, so they
# outlive the per-minute rows. One row per task, replaced by its next change, gone a day after.
insight_comparisons = sa.Table(
    "insight_comparisons",
    metadata,
    sa.Column("action_id", sa.String(255), primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),  # the audit event of the change
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("from_mode", sa.String(16), nullable=True),
    sa.Column("to_mode", sa.String(16), nullable=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("after_complete", sa.Boolean, nullable=False),
)

# Workers' reports of themselves (migration 0007): the latest per worker name, bounded by a cap and a
# retention period like seen_tasks. ``applied_at`` is the worker's clock (since when it applies the
# revision); ``revision_seen_at`` is the service's: when a report first carried this revision, which is
# what "how far did a change get, how fast" is measured with.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker", sa.String(255), primary_key=True),
    sa.Column("reporter", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("library_version", sa.String(64), nullable=False),
    sa.Column("sdk_version", sa.String(64), nullable=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=True),
    sa.Column("store", sa.String(64), nullable=True),
    sa.Column("applied_at", UTCDateTime, nullable=True),
    sa.Column("revision_seen_at", UTCDateTime, nullable=False),
    sa.Column("streaming", sa.Boolean, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Index("ix_workers_last_seen", "last_seen"),
)

# One row per rule-set revision: the audit log and the source of the change stream.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("revision", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("key", sa.String(256), nullable=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("etag", sa.String(80), nullable=False),
    sa.Index("ix_audit_events_at", "at"),
    sa.Index("ix_audit_events_key", "key"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)

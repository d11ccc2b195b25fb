"""How records become API bodies, shared by the JSON API and the dashboard (two families of routes
side by side above the service layer; neither imports the other)."""

from __future__ import annotations

from hatchet_trace_flags._rules import RuleSet

from ._models import TaskOut
from ._records import TaskRow

__all__ = ["task_out"]


def task_out(row: TaskRow, rules: RuleSet) -> TaskOut:
    decision = rules.evaluate(row.rule.key)
    return TaskOut(
        action_id=row.rule.key,
        mode=row.rule.mode,
        effective_mode=decision.mode,
        reason=decision.reason.value,
        rule=decision.rule,
        note=row.rule.note,
        version=row.rule.version,
        updated_at=row.rule.updated_at,
        updated_by=row.rule.updated_by,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        last_worker=row.last_worker,
    )

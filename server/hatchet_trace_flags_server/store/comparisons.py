"""Before and after a task's mode change (services/before_after.py): the mode changes the audit log
recorded, and one stored comparison per task (its latest change) with the insight numbers of both sides.

Bounded: one row per task (a later change replaces it), rows of changes older than the service's
horizon deleted by the retention sweep, and a forgotten task's row goes with its numbers
(``InsightStore.forget``). Nothing here is a rule: writing it never bumps the rule-set revision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .database import Database, chunks
from .schema import audit_events, insight_comparisons

__all__ = ["ComparisonRow", "ComparisonStore", "ModeChange"]

# Audit events read per sweep, newest first: far more task writes than a day normally holds, and a
# bound on the sweep's work when an import rewrote everything.
_MAX_EVENTS: Final = 20_000
_CHUNK: Final = 200


@dataclass(frozen=True, slots=True)
class ModeChange:
    """A task write whose stored mode differs from the one before it (by hand, an applied
    recommendation, an expiry's revert: a task event), or a task an import changed (one import event
    for the whole document)."""

    revision: int
    at: datetime
    actor: str
    action_id: str
    note: str | None
    from_mode: str | None  # None: no task rule (a pattern or the default decided)
    to_mode: str | None


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    change: ModeChange
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    after_complete: bool


def _mode(state: object) -> str | None:
    if isinstance(state, dict):
        mode = state.get("mode")
        return mode if isinstance(mode, str) else None
    return None


def _note(state: object) -> str | None:
    if isinstance(state, dict):
        note = state.get("note")
        return note if isinstance(note, str) else None
    return None


def _tasks(document: object) -> dict[str, str]:
    """An imported rule-set document's task modes (``{"tasks": {action_id: mode}}``)."""
    tasks = document.get("tasks") if isinstance(document, dict) else None
    if not isinstance(tasks, dict):
        return {}
    return {str(key): value for key, value in tasks.items() if isinstance(value, str)}


class ComparisonStore:
    def __init__(self, database: Database, write_lock: asyncio.Lock | None) -> None:
        self._db = database
        self._write_lock = write_lock  # the rule store's, on SQLite (one writer at a time anyway)

    async def mode_changes(self, since: datetime) -> list[ModeChange]:
        """Task writes since ``since`` that changed the stored mode, oldest first."""
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    audit_events.c.revision,
                    audit_events.c.kind,
                    audit_events.c.at,
                    audit_events.c.actor,
                    audit_events.c.key,
                    audit_events.c.before,
                    audit_events.c.after,
                )
                .where(audit_events.c.kind.in_(("task", "import")), audit_events.c.at >= since)
                .order_by(audit_events.c.revision.desc())
                .limit(_MAX_EVENTS)
            )
            changes: list[ModeChange] = []
            for row in rows:
                if row.kind == "import":
                    # One event for the whole document: each task whose mode it changed.
                    before, after = _tasks(row.before), _tasks(row.after)
                    for action_id in sorted(before.keys() | after.keys(), reverse=True):
                        if before.get(action_id) != after.get(action_id):
                            changes.append(
                                ModeChange(
                                    int(row.revision),
                                    row.at,
                                    str(row.actor),
                                    action_id,
                                    None,
                                    before.get(action_id),
                                    after.get(action_id),
                                )
                            )
                elif row.key is not None and _mode(row.before) != _mode(row.after):
                    changes.append(
                        ModeChange(
                            int(row.revision),
                            row.at,
                            str(row.actor),
                            str(row.key),
                            _note(row.after),
                            _mode(row.before),
                            _mode(row.after),
                        )
                    )
        changes.reverse()
        return changes

    async def all(self) -> list[ComparisonRow]:
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(sa.select(insight_comparisons))
            return [
                ComparisonRow(
                    ModeChange(
                        revision=int(row.revision),
                        at=row.changed_at,
                        actor=str(row.actor),
                        action_id=str(row.action_id),
                        note=row.note,
                        from_mode=row.from_mode,
                        to_mode=row.to_mode,
                    ),
                    row.before,
                    row.after,
                    bool(row.after_complete),
                )
                for row in rows
            ]

    async def save(self, rows: Sequence[ComparisonRow]) -> None:
        """Store each row as its task's comparison, unless a later change is stored already (another
        replica's sweep saw it first); in one transaction."""
        if not rows:
            return
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(insight_comparisons)
        columns = ("revision", "changed_at", "actor", "note", "from_mode", "to_mode", "before", "after")
        statement = insert.on_conflict_do_update(
            index_elements=["action_id"],
            set_={name: insert.excluded[name] for name in (*columns, "after_complete")},
            where=insight_comparisons.c.revision <= insert.excluded.revision,
        )
        values = [
            {
                "action_id": row.change.action_id,
                "revision": row.change.revision,
                "changed_at": row.change.at,
                "actor": row.change.actor,
                "note": row.change.note,
                "from_mode": row.change.from_mode,
                "to_mode": row.change.to_mode,
                "before": row.before,
                "after": row.after,
                "after_complete": row.after_complete,
            }
            for row in rows
        ]
        async with self._db.write_transaction(self._write_lock) as connection:
            for chunk in chunks(values, _CHUNK):
                await connection.execute(statement, list(chunk))

    async def expire(self, before: datetime) -> int:
        """Delete comparisons of changes made before ``before``; returns how many."""
        async with self._db.write_transaction(self._write_lock) as connection:
            result = await connection.execute(
                insight_comparisons.delete().where(insight_comparisons.c.changed_at < before)
            )
        return int(result.rowcount or 0)

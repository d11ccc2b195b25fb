"""The discovered tasks a pattern (``prefix*`` or ``*suffix``) names, as conditions indexes serve: the
pattern preview counts them, and the mode keeper finds the rows a changed pattern may decide again.
(Effective modes themselves are decided by the contract's ``RuleSet`` only and stored per row.)"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from hatchet_trace_flags_server.store.schema import seen_tasks

__all__ = ["name_matches", "seen_task_matches"]

_MAX_CHARACTER: Final = "\U0010ffff"  # sorts after every character an action_id can hold


def _literal(pattern: str) -> tuple[str, bool]:
    return (pattern[:-1], True) if pattern.endswith("*") else (pattern[1:], False)


def _starts_with(column: sa.ColumnElement[str], literal: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        # LIKE compares characters in any collation, and a text_pattern_ops index (migration 0006)
        # serves it; a range would follow the collation's order, where strings sharing a prefix
        # need not be contiguous.
        return column.startswith(literal, autoescape=True)
    # SQLite compares binary, so a prefix is a range of the column's index (LIKE would be
    # case-insensitive).
    return sa.and_(column >= literal, column < literal + _MAX_CHARACTER)


def seen_task_matches(pattern: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    """The discovered tasks ``pattern`` names, as one range of an index of ``seen_tasks``: a prefix
    pattern a range of ``action_id``, a suffix pattern a range of ``action_id_reversed``."""
    literal, is_prefix = _literal(pattern)
    if is_prefix:
        return _starts_with(seen_tasks.c.action_id, literal, postgres=postgres)
    return _starts_with(seen_tasks.c.action_id_reversed, literal[::-1], postgres=postgres)


def name_matches(action_id: sa.ColumnElement[str], pattern: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    """Whether ``action_id`` (a column without a reversed twin) matches ``pattern``, exactly as
    the contract's ``RuleSet`` compares (case-sensitive)."""
    literal, is_prefix = _literal(pattern)
    if is_prefix:
        return _starts_with(action_id, literal, postgres=postgres)
    if postgres:
        return action_id.endswith(literal, autoescape=True)
    return sa.func.substr(action_id, -len(literal)) == literal

"""A task's effective mode as SQL, built from the rule set this process serves: its own rule, else
the most specific pattern (``prefix*`` or ``*suffix``), else the default. Also the index-friendly
condition that narrows "discovered tasks with mode M" to the tasks M's patterns name."""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from hatchet_trace_flags.contract import Mode, RuleSet
from hatchet_trace_flags_server.store.schema import seen_tasks

__all__ = ["effective_mode", "name_matches", "pattern_hint", "seen_task_matches"]

_MAX_CHARACTER: Final = "\U0010ffff"  # sorts after every character an action_id can hold


def _literal(pattern: str) -> tuple[str, bool]:
    return (pattern[:-1], True) if pattern.endswith("*") else (pattern[1:], False)


def effective_mode(
    rules: RuleSet, action_id: sa.ColumnElement[str], exact: sa.ColumnElement[Any], *, postgres: bool
) -> sa.ColumnElement[str]:
    """SQL for ``rules.evaluate(action_id).mode``, given the row's own (exact) mode column."""
    if not rules.links_enabled:
        return sa.literal("parent", sa.String)
    ordered = sorted(
        rules.patterns.items(),
        # Most specific (longest literal) first; where a prefix and a suffix of the same length
        # disagree, RuleSet picks parent, so parent comes first among equals.
        key=lambda item: (-len(_literal(item[0])[0]), item[1] != "parent", item[0]),
    )
    whens: list[tuple[sa.ColumnElement[bool], str]] = []
    for pattern, mode in ordered:
        literal, is_prefix = _literal(pattern)
        size = len(literal)
        condition: sa.ColumnElement[bool]
        if postgres:
            # LIKE is case-sensitive here and runs without building a substring per row: a CASE
            # over every discovered task costs about half as much as with substr/right.
            condition = (
                action_id.startswith(literal, autoescape=True)
                if is_prefix
                else action_id.endswith(literal, autoescape=True)
            )
        else:
            # substr compares exactly (SQLite's LIKE ignores ASCII case).
            part = sa.func.substr(action_id, 1, size) if is_prefix else sa.func.substr(action_id, -size)
            condition = part == literal
        whens.append((condition, mode))
    inherited: sa.ColumnElement[str] = (
        sa.case(*whens, else_=sa.literal(rules.default)) if whens else sa.literal(rules.default, sa.String)
    )
    return sa.func.coalesce(exact, inherited)


def _starts_with(column: sa.ColumnElement[str], literal: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        # LIKE compares characters in any collation, and a text_pattern_ops index (migration 0006)
        # serves it; a range would follow the collation's order, where strings sharing a prefix
        # need not be contiguous.
        return column.startswith(literal, autoescape=True)
    # SQLite compares binary, so a prefix is a range of the column's index (LIKE would be
    # case-insensitive).
    return sa.and_(column >= literal, column < literal + _MAX_CHARACTER)


def pattern_hint(rules: RuleSet, mode: Mode, *, postgres: bool) -> sa.ColumnElement[bool] | None:
    """A necessary condition for "a discovered task without its own rule has ``mode``" that
    indexes serve: it matches one of the patterns giving ``mode``. A prefix pattern is a range of
    ``action_id``, a suffix pattern a range of ``action_id_reversed``; the database reads each
    range from its index and unions them. ``None`` when the default already gives ``mode`` (then
    most tasks qualify anyway)."""
    if rules.default == mode:
        return None
    terms = [
        seen_task_matches(pattern, postgres=postgres)
        for pattern, pattern_mode in rules.patterns.items()
        if pattern_mode == mode
    ]
    return sa.or_(*terms) if terms else sa.false()


def seen_task_matches(pattern: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    """The discovered tasks ``pattern`` names, as one range of an index of ``seen_tasks``: a prefix
    pattern a range of ``action_id``, a suffix pattern a range of ``action_id_reversed``."""
    literal, is_prefix = _literal(pattern)
    if is_prefix:
        return _starts_with(seen_tasks.c.action_id, literal, postgres=postgres)
    return _starts_with(seen_tasks.c.action_id_reversed, literal[::-1], postgres=postgres)


def name_matches(action_id: sa.ColumnElement[str], pattern: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    """Whether ``action_id`` (a column without a reversed twin) matches ``pattern``, exactly as
    :func:`effective_mode` compares."""
    literal, is_prefix = _literal(pattern)
    if is_prefix:
        return _starts_with(action_id, literal, postgres=postgres)
    if postgres:
        return action_id.endswith(literal, autoescape=True)
    return sa.func.substr(action_id, -len(literal)) == literal

"""The task list (configured and discovered tasks) as SQL: filter, sort, page and count in the
database, so a list costs the same with a thousand tasks or a million.

A task is a row of ``seen_tasks`` (with its rule, if any) or a configured rule no worker reported
yet. The effective mode (exact rule, else the most specific pattern, else the default) is a SQL
``CASE`` built from the rule set this process serves, so filtering and sorting by it happens in the
database too. Sorting by name pages by keyset (``after``); other sorts page by offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from hatchet_trace_flags._rules import Mode, RuleSet

from ._records import RuleRecord, TaskRow
from ._schema import seen_tasks, task_rules

__all__ = [
    "COUNT_LIMIT",
    "StatementCache",
    "TaskList",
    "TaskListQuery",
    "TaskSort",
    "effective_mode",
    "parameters",
    "row_to_task",
    "task_list",
]

TaskSort = Literal["name", "mode", "seen", "changed"]
# Counts stop here: past it a list says "more than COUNT_LIMIT", which costs a bounded scan
# instead of one over every row.
COUNT_LIMIT: Final = 10_000
# The statements take these as parameters, so one built statement serves every page and search.
_AFTER: Final = sa.bindparam("after", type_=sa.String)
_LIMIT: Final = sa.bindparam("limit", type_=sa.Integer)
_OFFSET: Final = sa.bindparam("offset", type_=sa.Integer)
_WINDOW: Final = sa.bindparam("window", type_=sa.Integer)
_MAX_CHARACTER: Final = "\U0010ffff"  # sorts after every character an action_id can hold


@dataclass(frozen=True, slots=True)
class TaskListQuery:
    search: str | None = None
    configured: bool | None = None
    mode: Mode | None = None  # effective mode
    sort: TaskSort = "name"
    descending: bool = False
    after: str | None = None  # keyset: only with sort="name"
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TaskList:
    """One page of tasks and how many match (exact up to :data:`COUNT_LIMIT`)."""

    rows: list[TaskRow]
    total: int
    total_exact: bool


def _literal(pattern: str) -> tuple[str, bool]:
    return (pattern[:-1], True) if pattern.endswith("*") else (pattern[1:], False)


def _suffix(action_id: sa.ColumnElement[str], size: int, *, postgres: bool) -> sa.ColumnElement[str]:
    return sa.func.right(action_id, size) if postgres else sa.func.substr(action_id, -size)


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
        # substr/right compare exactly (LIKE would be case-insensitive on SQLite and needs escaping).
        part = (
            sa.func.substr(action_id, 1, size) if is_prefix else _suffix(action_id, size, postgres=postgres)
        )
        whens.append((part == literal, mode))
    inherited: sa.ColumnElement[str] = (
        sa.case(*whens, else_=sa.literal(rules.default)) if whens else sa.literal(rules.default, sa.String)
    )
    return sa.func.coalesce(exact, inherited)


def _columns(action_id: sa.ColumnElement[str], sighting: Any = seen_tasks.c) -> list[sa.ColumnElement[Any]]:
    rule: list[sa.ColumnElement[Any]] = [
        task_rules.c.mode,
        task_rules.c.note,
        task_rules.c.version,
        task_rules.c.updated_at,
        task_rules.c.updated_by,
    ]
    return [
        action_id.label("action_id"),
        *rule,
        sighting.first_seen,
        sighting.last_seen,
        sighting.last_worker,
    ]


def _pattern_hint(
    rules: RuleSet, mode: Mode, action_id: sa.ColumnElement[str], *, postgres: bool
) -> sa.ColumnElement[bool] | None:
    """A necessary condition for "a task without its own rule has ``mode``" that an index on
    action_id can serve: it matches one of the patterns giving ``mode`` (prefix patterns become
    ranges). ``None`` when the default already gives ``mode`` (then most tasks qualify anyway)."""
    if rules.default == mode:
        return None
    terms: list[sa.ColumnElement[bool]] = []
    for pattern, pattern_mode in rules.patterns.items():
        if pattern_mode != mode:
            continue
        literal, is_prefix = _literal(pattern)
        if is_prefix and postgres:
            # LIKE compares characters in any collation; a range would follow the collation's
            # order, where strings sharing a prefix need not be contiguous.
            terms.append(action_id.startswith(literal, autoescape=True))
        elif is_prefix:  # SQLite: binary collation, so a prefix is a range of the primary key
            terms.append(sa.and_(action_id >= literal, action_id < literal + _MAX_CHARACTER))
        else:
            terms.append(_suffix(action_id, len(literal), postgres=postgres) == literal)
    return sa.or_(*terms) if terms else sa.false()


@dataclass(frozen=True, slots=True)
class _Branch:
    """One of three disjoint parts of the list, with what its ORDER BY may rely on."""

    rows: sa.Select[Any]  # the listed columns plus effective_mode
    counted: sa.Select[Any]  # the cheapest select of the same rows, for counting
    action_id: sa.ColumnElement[str]
    mode: sa.ColumnElement[str]
    last_seen: sa.ColumnElement[Any] | None  # None: NULL in every row of this branch
    updated_at: sa.ColumnElement[Any] | None
    seen_always: bool  # last_seen is never NULL here


def _branches(query: TaskListQuery, rules: RuleSet, mode: Mode | None, *, postgres: bool) -> list[_Branch]:
    """Every task once, in three parts an index can each serve: configured tasks (at most the
    rule-set limit), cleared rules still reported (few), and discovered tasks without any rule
    row (possibly a million; their mode comes from patterns and the default)."""
    if postgres:
        # A lateral lookup per rule (at most 10,000 index probes): PostgreSQL's planner would
        # otherwise hash-join against a scan of every discovered task.
        sighting: Any = (
            sa.select(seen_tasks.c.first_seen, seen_tasks.c.last_seen, seen_tasks.c.last_worker)
            .where(seen_tasks.c.action_id == task_rules.c.action_id)
            .limit(1)  # at most one anyway; it keeps the planner from turning this into a join
            .lateral("sighting")
        )
        joined = task_rules.outerjoin(sighting, sa.true())
        sighting = sighting.c
    else:
        sighting = seen_tasks.c
        joined = task_rules.outerjoin(seen_tasks, seen_tasks.c.action_id == task_rules.c.action_id)
    ruled_mode = effective_mode(rules, task_rules.c.action_id, task_rules.c.mode, postgres=postgres)
    branches: list[_Branch] = []
    if query.configured is not False:
        branches.append(
            _Branch(
                rows=sa.select(
                    *_columns(task_rules.c.action_id, sighting), ruled_mode.label("effective_mode")
                )
                .select_from(joined)
                .where(task_rules.c.mode.is_not(None)),
                # Filters never need the sighting: count the rules alone.
                counted=sa.select(task_rules.c.action_id).where(task_rules.c.mode.is_not(None)),
                action_id=task_rules.c.action_id,
                mode=ruled_mode,
                last_seen=sighting.last_seen,
                updated_at=task_rules.c.updated_at,
                seen_always=False,
            )
        )
    if query.configured is True:
        return branches
    cleared = (
        sa.select(*_columns(task_rules.c.action_id), ruled_mode.label("effective_mode"))
        .select_from(task_rules.join(seen_tasks, seen_tasks.c.action_id == task_rules.c.action_id))
        .where(task_rules.c.mode.is_(None))
    )
    branches.append(
        _Branch(
            rows=cleared,
            counted=cleared.with_only_columns(task_rules.c.action_id),
            action_id=task_rules.c.action_id,
            mode=ruled_mode,
            last_seen=seen_tasks.c.last_seen,
            updated_at=task_rules.c.updated_at,
            seen_always=True,
        )
    )
    bare_mode = effective_mode(rules, seen_tasks.c.action_id, sa.null(), postgres=postgres)
    no_rule = ~sa.exists().where(task_rules.c.action_id == seen_tasks.c.action_id)
    bare = sa.select(
        seen_tasks.c.action_id.label("action_id"),
        # Typed NULLs: PostgreSQL matches UNION columns by type.
        *(
            sa.cast(sa.null(), task_rules.c[name].type).label(name)
            for name in ("mode", "note", "version", "updated_at", "updated_by")
        ),
        seen_tasks.c.first_seen,
        seen_tasks.c.last_seen,
        seen_tasks.c.last_worker,
        bare_mode.label("effective_mode"),
    ).where(no_rule)
    counted = sa.select(seen_tasks.c.action_id).where(no_rule)
    if mode is not None and rules.links_enabled:
        hint = _pattern_hint(rules, mode, seen_tasks.c.action_id, postgres=postgres)
        if hint is not None:
            bare, counted = bare.where(hint), counted.where(hint)
    branches.append(
        _Branch(
            rows=bare,
            counted=counted,
            action_id=seen_tasks.c.action_id,
            mode=bare_mode,
            last_seen=seen_tasks.c.last_seen,
            updated_at=None,
            seen_always=True,
        )
    )
    return branches


def _conditions(query: TaskListQuery, branch: _Branch, mode: Mode | None) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if query.search:
        conditions.append(
            sa.func.lower(branch.action_id).like(sa.bindparam("search", type_=sa.String), escape="/")
        )
    if mode is not None:
        conditions.append(branch.mode == mode)
    return conditions


def _order(
    sort: TaskSort,
    descending: bool,
    action_id: sa.ColumnElement[str],
    mode: sa.ColumnElement[str],
    last_seen: sa.ColumnElement[Any] | None,
    updated_at: sa.ColumnElement[Any] | None,
    *,
    never_null: bool = False,
) -> list[sa.ColumnElement[Any]]:
    key: sa.ColumnElement[Any] | None = {
        "name": None,
        "mode": mode,
        "seen": last_seen,
        "changed": updated_at,
    }[sort]
    order: list[sa.ColumnElement[Any]] = []
    if key is not None:
        if not never_null and sort != "mode":
            # "Never seen" / "never changed" counts as oldest: first going up, last going down.
            order.append(key.is_(None).desc() if not descending else key.is_(None).asc())
        order.append(key.desc() if descending else key.asc())
    order.append(action_id.desc() if descending else action_id.asc())
    return order


def task_list(
    query: TaskListQuery, rules: RuleSet, *, postgres: bool
) -> tuple[sa.Select[Any], list[sa.Select[Any]]]:
    """The page's statement and, per part of the list, a count statement capped at
    :data:`COUNT_LIMIT` + 1.

    Each part is filtered, sorted and cut to ``offset + limit`` rows on its own (its indexes
    serve its order), then the database merges the short lists and takes the page."""
    pages: list[sa.Subquery] = []
    counts: list[sa.Select[Any]] = []
    for index, branch in enumerate(_branches(query, rules, query.mode, postgres=postgres)):
        conditions = _conditions(query, branch, query.mode)
        counts.append(
            sa.select(sa.func.count()).select_from(
                branch.counted.where(*conditions).limit(COUNT_LIMIT + 1).subquery(f"c{index}")
            )
        )
    # Sorted by mode: one pass per mode, each in name order, which the primary keys serve.
    passes: list[Mode | None] = (
        ["link", "parent"] if query.sort == "mode" and query.mode is None else [query.mode]
    )
    for mode in passes:
        for branch in _branches(query, rules, mode, postgres=postgres):
            rows = branch.rows.where(*_conditions(query, branch, mode))
            if query.after is not None and query.sort == "name":
                rows = rows.where(
                    branch.action_id < _AFTER if query.descending else branch.action_id > _AFTER
                )
            never_null = query.sort == "seen" and branch.seen_always
            sort = "name" if query.sort == "mode" else query.sort
            order = _order(
                sort,
                query.descending,
                branch.action_id,
                branch.mode,
                branch.last_seen,
                branch.updated_at,
                never_null=never_null,
            )
            pages.append(rows.order_by(*order).limit(_WINDOW).subquery(f"b{len(pages)}"))
    merged = sa.union_all(*(sa.select(page) for page in pages)).subquery("merged")
    columns = merged.c
    page = (
        sa.select(merged)
        .order_by(
            *_order(
                query.sort,
                query.descending,
                columns.action_id,
                columns.effective_mode,
                columns.last_seen,
                columns.updated_at,
            )
        )
        .limit(_LIMIT)
        .offset(_OFFSET)
    )
    return page, counts


def parameters(query: TaskListQuery) -> dict[str, object]:
    """The values :func:`task_list`'s statements take."""
    values: dict[str, object] = {
        "after": query.after,
        "limit": query.limit,
        "offset": query.offset,
        "window": query.offset + query.limit,
    }
    if query.search:
        escaped = query.search.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
        values["search"] = f"%{escaped}%"
    return values


class StatementCache:
    """Built statements by rule set and query shape: building one (a CASE per pattern, three
    parts) costs milliseconds of event-loop time, so it happens once per rule-set revision."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[tuple[object, ...], tuple[sa.Select[Any], list[sa.Select[Any]]]] = {}
        self._rules: RuleSet | None = None

    def get(
        self, query: TaskListQuery, rules: RuleSet, *, postgres: bool
    ) -> tuple[sa.Select[Any], list[sa.Select[Any]]]:
        if rules is not self._rules:
            self._entries.clear()
            self._rules = rules
        shape = (
            query.configured,
            query.mode,
            query.sort,
            query.descending,
            bool(query.search),
            query.after is not None,
        )
        built = self._entries.get(shape)
        if built is None:
            if len(self._entries) >= self._size:
                self._entries.clear()
            built = self._entries[shape] = task_list(query, rules, postgres=postgres)
        return built


def row_to_task(row: RowMapping) -> TaskRow:
    rule = (
        RuleRecord(
            row["action_id"], row["mode"], row["note"], row["version"], row["updated_at"], row["updated_by"]
        )
        if row["version"] is not None
        else RuleRecord(row["action_id"], None, None, 0, None, None)
    )
    return TaskRow(
        rule=rule, first_seen=row["first_seen"], last_seen=row["last_seen"], last_worker=row["last_worker"]
    )


def rows_to_tasks(rows: Sequence[RowMapping]) -> list[TaskRow]:
    return [row_to_task(row) for row in rows]

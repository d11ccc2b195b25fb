"""The task list (configured and discovered tasks) as SQL: filter, sort, page and count in the
database, so a list costs the same with a thousand tasks or a million.

A task is a row of ``seen_tasks`` (with its rule, if any) or a configured rule no worker reported
yet. A discovered task's effective mode is a column of its row (``seen_tasks.effective_mode``, kept
by :mod:`~hatchet_trace_flags_server.store.task_modes` with the contract's ``RuleSet``), so filtering
and sorting by it reads an index; a configured task's is its own mode (or parent with links off). A
search uses the trigram indexes of :mod:`.search_sql`.
Sorting by name pages by keyset (``after``); other sorts page by offset. :mod:`._task_fetch` runs
the statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from hatchet_trace_flags.contract import Mode
from hatchet_trace_flags_server.core.records import COUNT_LIMIT, TaskListQuery, TaskSort
from hatchet_trace_flags_server.store.schema import seen_tasks, task_rules

from .search_sql import count_matches, like_condition, listed_rows, search_values

__all__ = ["parameters", "task_list"]

# The statements take these as parameters, so one built statement serves every page and search.
_AFTER: Final = sa.bindparam("after", type_=sa.String)
_LIMIT: Final = sa.bindparam("limit", type_=sa.Integer)
_OFFSET: Final = sa.bindparam("offset", type_=sa.Integer)
_WINDOW: Final = sa.bindparam("window", type_=sa.Integer)
# The columns of a task's own rule every part of the list selects (the reader's RuleRecord).
_RULE_COLUMNS: Final = ("mode", "note", "version", "updated_at", "updated_by", "until", "reverts_to")


def _columns(action_id: sa.ColumnElement[str], sighting: Any = seen_tasks.c) -> list[sa.ColumnElement[Any]]:
    rule: list[sa.ColumnElement[Any]] = [task_rules.c[name] for name in _RULE_COLUMNS]
    return [
        action_id.label("action_id"),
        *rule,
        sighting.first_seen,
        sighting.last_seen,
        sighting.last_worker,
    ]


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
    reads_seen: bool = False  # its rows are rows of seen_tasks (the search index covers them)
    # The rules alone (listed columns but the sighting's): when the order needs no sighting, the
    # page picks its rules first and looks up the sightings of those few only.
    rules_only: sa.Select[Any] | None = None


def _configured_mode(links_enabled: bool) -> sa.ColumnElement[str]:
    """A configured task's effective mode: its own, or parent everywhere with the kill switch on."""
    return task_rules.c.mode if links_enabled else sa.literal("parent", sa.String(16))


def _branches(
    query: TaskListQuery, links_enabled: bool, mode: Mode | None, *, postgres: bool
) -> list[_Branch]:
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
    ruled_mode = _configured_mode(links_enabled)
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
                rules_only=sa.select(task_rules, ruled_mode.label("effective_mode")).where(
                    task_rules.c.mode.is_not(None)
                ),
                action_id=task_rules.c.action_id,
                mode=ruled_mode,
                last_seen=sighting.last_seen,
                updated_at=task_rules.c.updated_at,
                seen_always=False,
            )
        )
    if query.configured is True:
        return branches
    rule_name: sa.ColumnElement[str] = task_rules.c.action_id
    if not postgres:
        # Cleared rules are few: read them first and look each one's sighting up. SQLite may scan
        # every discovered task instead, probing task_rules for each (after an ANALYZE while
        # task_rules was empty it guesses that table to be the larger one); a unary "+" keeps this
        # term from using task_rules' index, which leaves only the good order.
        rule_name = sa.literal_column(f"+{task_rules.name}.action_id", sa.String)
    cleared = (
        sa.select(*_columns(task_rules.c.action_id), seen_tasks.c.effective_mode)
        .select_from(task_rules.join(seen_tasks, seen_tasks.c.action_id == rule_name))
        .where(task_rules.c.mode.is_(None))
    )
    branches.append(
        _Branch(
            rows=cleared,
            counted=cleared.with_only_columns(task_rules.c.action_id),
            action_id=task_rules.c.action_id,
            mode=seen_tasks.c.effective_mode,
            last_seen=seen_tasks.c.last_seen,
            updated_at=task_rules.c.updated_at,
            seen_always=True,
        )
    )
    no_rule = ~sa.exists().where(task_rules.c.action_id == seen_tasks.c.action_id)
    bare = sa.select(
        seen_tasks.c.action_id.label("action_id"),
        # Typed NULLs: PostgreSQL matches UNION columns by type.
        *(sa.cast(sa.null(), task_rules.c[name].type).label(name) for name in _RULE_COLUMNS),
        seen_tasks.c.first_seen,
        seen_tasks.c.last_seen,
        seen_tasks.c.last_worker,
        seen_tasks.c.effective_mode,
    ).where(no_rule)
    counted = sa.select(seen_tasks.c.action_id).where(no_rule)
    branches.append(
        _Branch(
            rows=bare,
            counted=counted,
            action_id=seen_tasks.c.action_id,
            mode=seen_tasks.c.effective_mode,
            last_seen=seen_tasks.c.last_seen,
            updated_at=None,
            seen_always=True,
            reads_seen=True,
        )
    )
    return branches


def _with_sighting(rules: sa.Subquery, *, postgres: bool) -> sa.Select[Any]:
    """A page of rules (a subquery of :attr:`_Branch.rules_only`) with each one's sighting."""
    sighting: Any
    if postgres:
        sighting = (
            sa.select(seen_tasks.c.first_seen, seen_tasks.c.last_seen, seen_tasks.c.last_worker)
            .where(seen_tasks.c.action_id == rules.c.action_id)
            .limit(1)
            .lateral("sighting")
        )
        joined = rules.outerjoin(sighting, sa.true())
    else:
        sighting = seen_tasks
        joined = rules.outerjoin(seen_tasks, seen_tasks.c.action_id == rules.c.action_id)
    return sa.select(
        rules.c.action_id,
        *(rules.c[name] for name in _RULE_COLUMNS),
        sighting.c.first_seen,
        sighting.c.last_seen,
        sighting.c.last_worker,
        rules.c.effective_mode,
    ).select_from(joined)


def _conditions(
    query: TaskListQuery, branch: _Branch, mode: Mode | None, *, listed: bool = False, postgres: bool = False
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if query.search:
        conditions.append(like_condition(branch.action_id))
        if listed and branch.reads_seen:
            conditions.append(listed_rows(postgres=postgres))
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
    query: TaskListQuery,
    links_enabled: bool,
    *,
    postgres: bool,
    count_index: bool = False,
    page_index: bool = False,
) -> tuple[sa.Select[Any], list[sa.Select[Any]]]:
    """The page's statement and, per part of the list, a count statement capped at
    :data:`COUNT_LIMIT` + 1.

    Each part is filtered, sorted and cut to ``offset + limit`` rows on its own (its indexes
    serve its order), then the database merges the short lists and takes the page.
    ``count_index``: the discovered tasks' count also lists the searched ones it found through the
    search index (:mod:`._task_search`). ``page_index``: it found at most COUNT_LIMIT of them; the
    page sorts just those (parameter ``listed``)."""
    pages: list[sa.Subquery] = []
    counts: list[sa.Select[Any]] = []
    for index, branch in enumerate(_branches(query, links_enabled, query.mode, postgres=postgres)):
        counted = branch.counted.where(*_conditions(query, branch, query.mode))
        if count_index and branch.reads_seen:
            counts.append(count_matches(counted, COUNT_LIMIT + 1, postgres=postgres))
            continue
        counts.append(
            sa.select(sa.func.count()).select_from(counted.limit(COUNT_LIMIT + 1).subquery(f"c{index}"))
        )
    # Sorted by mode: one pass per mode, each in name order, which the primary keys serve.
    passes: list[Mode | None] = (
        ["link", "parent"] if query.sort == "mode" and query.mode is None else [query.mode]
    )
    for mode in passes:
        for branch in _branches(query, links_enabled, mode, postgres=postgres):
            # Sorted by the sighting (seen), the rules need theirs before the sort.
            rules_only = branch.rules_only if query.sort != "seen" else None
            selected = rules_only if rules_only is not None else branch.rows
            rows = selected.where(*_conditions(query, branch, mode, listed=page_index, postgres=postgres))
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
            rows = rows.order_by(*order).limit(_WINDOW)
            if rules_only is not None:
                rows = _with_sighting(rows.subquery(f"r{len(pages)}"), postgres=postgres)
            pages.append(rows.subquery(f"b{len(pages)}"))
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
        values.update(search_values(query.search))
    return values

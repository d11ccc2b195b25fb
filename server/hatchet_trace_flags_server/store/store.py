"""The service's database access, in seven parts over one database:

* ``queries`` (:class:`~.rules.reads.RuleQueries`): reads of the rule set, settings, tasks,
  patterns and the audit log;
* ``writes`` (:class:`~.rules.expiry_writes.TimedRuleWrites`): the transactions that change the rule
  set, time-boxed changes included;
* ``seen`` (:class:`~.seen_tasks.SeenStore`): the tasks workers report;
* ``insights`` (:class:`~.insights.InsightStore`): workers' fan-out summaries;
* ``comparisons`` (:class:`~.comparisons.ComparisonStore`): the numbers before and after mode changes;
* ``workers`` (:class:`~.workers.WorkerStore`): workers' reports of themselves;
* ``modes`` (:class:`~.task_modes.ModeStore`): the effective mode stored per discovered task.

Only the service layer (:mod:`hatchet_trace_flags_server.services`) and the background work beside
it (the change feed, the mode keeper, the retention sweep) use a store; routes never do. Record
types and the errors a store raises live in :mod:`hatchet_trace_flags_server.core.records`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hatchet_trace_flags_server.core.records import RulesSnapshot

from .comparisons import ComparisonStore
from .database import Database
from .insights import InsightStore
from .rules.expiry_writes import TimedRuleWrites
from .rules.reads import RuleQueries
from .seen_tasks import SeenStore
from .task_modes import ModeStore
from .workers import WorkerStore

__all__ = ["Store"]


class Store:
    """Database access for one process; built once by the app factory."""

    def __init__(
        self, database: Database, *, known: Callable[[], RulesSnapshot | None] = lambda: None
    ) -> None:
        # SQLite has one writer at a time anyway: queueing here keeps waiting writers off the
        # busy-timeout loop in the driver's thread. Every writer below shares the queue.
        write_lock = asyncio.Lock() if not database.is_postgres else None
        self.queries = RuleQueries(database)
        # ``known``: the snapshot this process serves (owned by the change feed), which lets a
        # write start from it instead of re-reading every rule.
        self.writes = TimedRuleWrites(database, write_lock, known=known)
        self.seen = SeenStore(database, write_lock, known=known)
        self.modes = ModeStore(database, write_lock)
        self.insights = InsightStore(database, write_lock)
        self.comparisons = ComparisonStore(database, write_lock)
        self.workers = WorkerStore(database, write_lock)

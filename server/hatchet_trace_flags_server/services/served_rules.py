"""What a reader of the rule set is served at a given moment: timed settings past their ``until``
already reverted, and for readers that do not announce expiries (every library before them, OFREP
clients) the version-1 document of the values in force, whose ETag therefore changes at each ``until``.

The stored snapshot only changes when a revert is written (at once by a running service, see
services/expiry.py); with these views a reader never sees a timed value after its end, and an old worker
never meets a document its parser refuses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from hatchet_trace_flags.contract import TIMED_DOCUMENT_VERSION, Expiries
from hatchet_trace_flags_server.core.records import RulesSnapshot

__all__ = ["reads_expiries", "served_snapshot"]


def reads_expiries(announced: str | None) -> bool:
    """Whether a worker's ``X-Rules-Document-Version`` says it reads documents with expiries."""
    if announced is None:
        return False
    try:
        return int(announced.strip()) >= TIMED_DOCUMENT_VERSION
    except ValueError:
        return False


def served_snapshot(snapshot: RulesSnapshot, *, with_expiries: bool, now: datetime) -> RulesSnapshot:
    """``snapshot`` as served at ``now``: itself when it holds no expiry."""
    expiries = snapshot.rules.expiries
    if not expiries:
        return snapshot
    untils = [expiry.until for expiry in (*expiries.tasks.values(), *expiries.patterns.values())]
    if expiries.links_enabled is not None:
        untils.append(expiries.links_enabled.until)
    # The latest ``until`` already past names which expiries are due: the view changes only there.
    due = max((until for until in untils if until <= now), default=None)
    return _view(snapshot, with_expiries, due)


# Few: each entry holds a whole rule set, and only the current snapshot's views are asked for.
@lru_cache(maxsize=8)
def _view(snapshot: RulesSnapshot, with_expiries: bool, due: datetime | None) -> RulesSnapshot:
    rules = snapshot.rules
    if due is not None:
        rules = rules.at(due)
    if not with_expiries and rules.expiries:
        rules = replace(rules, expiries=Expiries())
    if rules is snapshot.rules:
        return snapshot
    return RulesSnapshot.of(snapshot.revision, rules)

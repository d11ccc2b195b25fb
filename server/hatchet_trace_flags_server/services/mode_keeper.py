"""Keeps each discovered task's stored effective mode (``seen_tasks.effective_mode``) equal to what the
served rule set decides, with the contract's ``RuleSet`` as the one evaluation model (issue 23).

It watches every snapshot the change feed serves (local writes and other replicas' alike) and compares
it with the one before: a changed pattern names the rows to decide again (one index range), a changed
task override one row, a changed default or kill switch every row. Those rows are decided in Python and
written in short transactions of at most ``write_batch`` rows (fewer when a batch held the write lock
for long: the size follows the time a batch takes), so lists, reports and rule changes wait
for one batch at most, never for a whole recompute. When all is stored it records the revision
(``rule_state.modes_revision``); a process starting at a later revision walks every row once in the
background (a recompute may have stopped half-way). It also picks up rows written while the rule set
was changing (stored without a mode).

Rule changes wait for their own recompute (:meth:`ModeKeeper.settled`, bounded), so lists read right
after a change show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from hatchet_trace_flags.contract import RuleSet
from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.store.task_modes import ModeStore, StoredMode

from .background import BackgroundLoop

__all__ = ["ModeKeeper"]

logger = logging.getLogger("hatchet_trace_flags_server")

# A pattern naming more rows than this is walked in key order instead of read at once (memory).
_NAMED_LIMIT: Final = 20_000
# More changed patterns than this in one step (an import): walk every row once instead.
_MANY_PATTERNS: Final = 200
_SCAN_BATCH: Final = 5_000
_WRITE_BATCH: Final = 500  # rows per write transaction at most
_FIRST_BATCH: Final = 100
_DECIDE_CHUNK: Final = 1_000
_FEWEST_ROWS: Final = 10
# What one batch aims to hold the write lock for: the batch size follows it (halved after a batch that
# took over twice this, doubled after one under half), well inside the 50 ms a batch may take: at 15 ms,
# a few batches took 2-4 times their size's time on 2 busy cores (docs/server.md, issue 23).
_TARGET_HOLD_SECONDS: Final = 0.010
# How long a rule change waits for its recompute before answering anyway.
SETTLE_SECONDS: Final = 5.0
_IDLE_SECONDS: Final = 1.0
_RETRY_SECONDS: Final = 1.0

_Kind = Literal["everything", "pattern", "names"]


@dataclass(slots=True)
class _Work:
    kind: _Kind
    revision: int  # the snapshot that asked for it
    pattern: str | None = None
    names: tuple[str, ...] = ()
    after: str | None = None  # how far a walk in key order got
    unless_complete: bool = False  # the walk at start: skipped if the revision's modes are all stored


def _work_between(before: RuleSet, after: RuleSet, revision: int) -> list[_Work]:
    """What to decide again when the served rule set goes from ``before`` to ``after``."""
    if (before.default, before.links_enabled) != (after.default, after.links_enabled):
        return [_Work("everything", revision)]
    if not after.links_enabled:
        return []  # every task is parent, whatever its rules say
    patterns = [
        pattern
        for pattern in before.patterns.keys() | after.patterns.keys()
        if before.patterns.get(pattern) != after.patterns.get(pattern)
    ]
    if len(patterns) > _MANY_PATTERNS:
        return [_Work("everything", revision)]
    tasks = tuple(
        sorted(
            action_id
            for action_id in before.tasks.keys() | after.tasks.keys()
            if before.tasks.get(action_id) != after.tasks.get(action_id)
        )
    )
    work = [_Work("pattern", revision, pattern=pattern) for pattern in sorted(patterns)]
    return work + ([_Work("names", revision, names=tasks)] if tasks else [])


async def _stale(rows: Sequence[StoredMode], rules: RuleSet) -> list[StoredMode]:
    """The rows whose stored mode ``rules`` decide otherwise, yielding to the event loop now and then
    (tens of thousands of rows at once would hold it for tens of milliseconds)."""
    stale: list[StoredMode] = []
    for start in range(0, len(rows), _DECIDE_CHUNK):
        stale += [row for row in rows[start : start + _DECIDE_CHUNK] if row.stale_under(rules)]
        await asyncio.sleep(0)
    return stale


def _named_by(pattern: str, action_id: str) -> bool:
    return action_id.startswith(pattern[:-1]) if pattern.endswith("*") else action_id.endswith(pattern[1:])


async def _no_gate() -> None:
    return None


def _ignore(_seconds: float) -> None:
    return None


class ModeKeeper(BackgroundLoop):
    task_name = "mode-keeper"

    def __init__(
        self,
        store: ModeStore,
        *,
        write_batch: int = _WRITE_BATCH,
        between_batches: Callable[[], Awaitable[None]] = _no_gate,
        on_batch: Callable[[float], None] = _ignore,
    ) -> None:
        self._store = store
        self.write_batch = write_batch
        self._batch_size = min(_FIRST_BATCH, write_batch)
        # Called before every write batch: tests hold a recompute half-way with it.
        self.between_batches = between_batches
        self.settle_seconds = SETTLE_SECONDS
        self._on_batch = on_batch  # seconds one batch held the write lock (a metric)
        self._unrecorded = False  # work done since the complete revision was last recorded
        self._snapshot: RulesSnapshot | None = None
        self._urgent: deque[_Work] = deque()  # rule changes, oldest first
        self._background: deque[_Work] = deque()  # the walk at start
        self._current: _Work | None = None
        self._is_urgent_current = False
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self.batches = 0  # write transactions done
        self.longest_hold_seconds = 0.0
        self.failures = 0

    # ----------------------------------------------------------------- feeding it

    def observe(self, snapshot: RulesSnapshot) -> None:
        """The change feed serves ``snapshot`` now (called for every snapshot it swaps in)."""
        previous, self._snapshot = self._snapshot, snapshot
        if previous is None:
            self._background.append(_Work("everything", snapshot.revision, unless_complete=True))
        elif snapshot.revision != previous.revision:
            self._urgent.extend(_work_between(previous.rules, snapshot.rules, snapshot.revision))
        self._wake.set()

    async def settled(self, revision: int) -> bool:
        """Wait until every recompute asked for by revisions up to ``revision`` is done (at most
        :attr:`settle_seconds`); whether it is. Without a running keeper, at once."""
        if not self.running:
            return False

        def done() -> bool:
            pending = [*self._urgent, *([self._current] if self._is_urgent_current and self._current else [])]
            return not any(work.revision <= revision for work in pending)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settle_seconds), self._changed:
                await self._changed.wait_for(done)
                return True
        return False

    # ----------------------------------------------------------------- the loop

    async def _loop(self) -> None:
        while True:
            work, urgent = self._next()
            if work is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_IDLE_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
                if not self._urgent and not self._background:
                    await self._decide_undecided()
                    await self._record_complete()
                continue
            self._current, self._is_urgent_current = work, urgent
            try:
                await self._run(work)
                self._unrecorded = True
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                logger.exception("keeping discovered tasks' modes failed; again in %g s", _RETRY_SECONDS)
                await asyncio.sleep(_RETRY_SECONDS)
                (self._urgent if urgent else self._background).appendleft(work)
            finally:
                self._current, self._is_urgent_current = None, False
                async with self._changed:
                    self._changed.notify_all()

    def _next(self) -> tuple[_Work | None, bool]:
        if self._urgent:
            return self._urgent.popleft(), True
        if self._background:
            return self._background.popleft(), False
        return None, False

    async def _decide_undecided(self) -> None:
        try:
            while rows := await self._store.undecided(self.write_batch):
                await self._write(rows)
        except Exception:
            self.failures += 1
            logger.exception("deciding new discovered tasks' modes failed; trying again")

    async def _record_complete(self) -> None:
        snapshot = self._snapshot
        if not self._unrecorded or snapshot is None or self._urgent or self._background:
            return
        try:
            await self._store.mark_complete(snapshot.revision)
            self._unrecorded = False
        except Exception:
            self.failures += 1
            logger.exception("recording that modes are stored failed; trying again")

    async def _run(self, work: _Work) -> None:
        if work.unless_complete and await self._store.complete_revision() == work.revision:
            return
        if work.kind == "names":
            await self._write(await self._store.named(work.names))
            return
        if work.kind == "pattern" and work.pattern is not None and work.after is None:
            named = await self._store.named_by(work.pattern, limit=_NAMED_LIMIT)
            if named is not None:
                await self._write(named)
                return
        # Every row, or a pattern naming too many to hold at once: walk the primary key.
        while rows := await self._store.scan(work.after, _SCAN_BATCH):
            pattern = work.pattern
            await self._write([row for row in rows if pattern is None or _named_by(pattern, row.action_id)])
            work.after = rows[-1].action_id

    async def _write(self, rows: Sequence[StoredMode]) -> None:
        """Decide ``rows`` with the served rules and store those that differ, a batch at a time; a
        batch refused because the rules moved on waits for the newer snapshot and is decided again."""
        remaining = list(rows)  # not yet stored under ``snapshot``
        snapshot: RulesSnapshot | None = None
        while remaining:
            current = self._snapshot
            if current is None:
                return
            if current is not snapshot:
                snapshot = current
                remaining = await _stale(remaining, snapshot.rules)
                continue
            size = min(self._batch_size, self.write_batch)
            await self.between_batches()
            outcome = await self._store.write(snapshot, remaining[:size])
            self.batches += 1
            self.longest_hold_seconds = max(self.longest_hold_seconds, outcome.held_seconds)
            self._on_batch(outcome.held_seconds)
            self._adapt(size, outcome.held_seconds)
            if not outcome.written:
                await self._newer_than(snapshot)
                continue
            remaining = remaining[size:]

    def _adapt(self, size: int, held_seconds: float) -> None:
        if held_seconds > 2 * _TARGET_HOLD_SECONDS:
            self._batch_size = max(_FEWEST_ROWS, size // 2)
        elif held_seconds < _TARGET_HOLD_SECONDS / 2 and size >= self._batch_size:
            self._batch_size = min(self.write_batch, size * 2)

    async def _newer_than(self, snapshot: RulesSnapshot) -> None:
        """Wait (bounded) for the feed to serve a snapshot newer than ``snapshot``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_RETRY_SECONDS):
                while self._snapshot is snapshot:
                    self._wake.clear()
                    await self._wake.wait()

"""What a task start decides, link or parent, and why: the per-run override first, then the predicate.

Both start wrappers (step runs and batches) ask a :class:`TaskDecider`. With decision events on, the answer is
an :class:`~hatchet_trace_flags._decisions.evaluation_event.Evaluation` whose attributes become the start
span's ``feature_flag.evaluation`` event: a :class:`~hatchet_trace_flags.FlagPredicate` hands over the one
it cached with the decision; for a per-run override, a plain callable or a broken one, the decider builds it
once per action_id and keeps it (bounded). With events off, or with nothing to decide (no predicate and no
override: stock hatchet-sdk), the answer carries no attributes and nothing is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from inspect import isfunction
from types import MethodType
from typing import Any, Final

from hatchet_trace_flags._decisions.evaluation_event import Evaluation, evaluation
from hatchet_trace_flags._decisions.predicate import FlagPredicate
from hatchet_trace_flags._triggers.relationship import relationship_for
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY

__all__ = ["TaskDecider", "UseLinksPredicate"]

logger = logging.getLogger("hatchet_trace_flags")

UseLinksPredicate = Callable[[str], bool]

_MAX_WARNED_ACTION_IDS: Final = 10_000
_MAX_KEPT_EVALUATIONS: Final = 10_000
# Decisions that record nothing (events off, or stock behaviour): no attributes, so no event.
_LINK: Final = Evaluation(True, {})
_PARENT: Final = Evaluation(False, {})


class TaskDecider:
    """Decides link or parent for each task start, from the override in a run's metadata, then
    ``predicate``; ``events``: whether the decisions carry their ``feature_flag.evaluation`` attributes.

    Raises ``TypeError`` for a ``predicate`` that is neither callable nor ``None``: it would otherwise be
    found out only at the first task start.
    """

    def __init__(self, predicate: UseLinksPredicate | None, *, events: bool) -> None:
        if predicate is not None and not callable(predicate):
            raise TypeError(
                "use_links_instead_of_parent must be a callable (action_id -> bool) or None, "
                f"got {type(predicate).__name__}: {predicate!r}"
            )
        self.predicate = predicate
        # Calling an instance of a Python class goes through a generic slot (~50 ns on every task start);
        # its bound __call__ is the same code, called directly.
        call = vars(type(predicate)).get("__call__")
        self.call: UseLinksPredicate | None = MethodType(call, predicate) if isfunction(call) else predicate
        self.events = events
        self._flag = predicate if isinstance(predicate, FlagPredicate) else None
        self._flag_key = self._flag.flag_key if self._flag is not None else DEFAULT_FLAG_KEY
        self._kept: dict[tuple[str, str, bool], Evaluation] = {}
        self._warned_action_ids: set[str] = set()

    def wants_link(self, action_id: str, metadata: Mapping[str, Any]) -> bool:
        """The decision alone (no event): the override, else the predicate; parent when it misbehaves."""
        if metadata:
            requested = relationship_for(metadata)
            if requested is not None:
                return requested == "link"
        predicate = self.call
        if predicate is None:
            return False
        try:
            # Typed bool, but it is user code: anything may come back, and a non-bool must not pass as one.
            decision: object = predicate(action_id)
        except Exception as error:
            self._warn_once(action_id, "use_links_instead_of_parent raised %r", error)
            return False
        if decision is True:
            return True
        if decision is False:
            return False
        self._warn_once(action_id, "use_links_instead_of_parent returned %r, not a bool", decision)
        return False

    def decide(self, action_id: str, metadata: Mapping[str, Any]) -> Evaluation:
        """The decision for one task start, with its event's attributes when events are on."""
        if not self.events:
            return _LINK if self.wants_link(action_id, metadata) else _PARENT
        if metadata:
            requested = relationship_for(metadata)
            if requested is not None:
                return self._kept_evaluation(action_id, "override", requested == "link")
        flag = self._flag
        if flag is not None:
            try:
                return flag.evaluate(action_id)
            except Exception as error:  # a subclass's own code; FlagPredicate itself never raises
                self._warn_once(action_id, "use_links_instead_of_parent raised %r", error)
                return self._kept_evaluation(action_id, "predicate_error", False, "general")
        predicate = self.call
        if predicate is None:
            return _PARENT
        try:
            decision: object = predicate(action_id)
        except Exception as error:
            self._warn_once(action_id, "use_links_instead_of_parent raised %r", error)
            return self._kept_evaluation(action_id, "predicate_error", False, "general")
        if decision is True or decision is False:
            return self._kept_evaluation(action_id, "callable", decision)
        self._warn_once(action_id, "use_links_instead_of_parent returned %r, not a bool", decision)
        return self._kept_evaluation(action_id, "predicate_error", False, "type_mismatch")

    def _kept_evaluation(
        self, action_id: str, reason: str, use_links: bool, error_type: str | None = None
    ) -> Evaluation:
        key = (action_id, reason, use_links)
        kept = self._kept.get(key)
        if kept is None:
            kept = evaluation(action_id, use_links, reason, flag_key=self._flag_key, error_type=error_type)
            if len(self._kept) < _MAX_KEPT_EVALUATIONS:
                self._kept[key] = kept
        return kept

    def _warn_once(self, action_id: str, message: str, detail: object) -> None:
        if action_id in self._warned_action_ids:
            return
        if len(self._warned_action_ids) < _MAX_WARNED_ACTION_IDS:
            self._warned_action_ids.add(action_id)
        logger.warning(f"task %s: {message}; using parent mode", action_id, detail)

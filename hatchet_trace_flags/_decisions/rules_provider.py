"""``RulesProvider``: an OpenFeature provider that evaluates a :class:`~hatchet_trace_flags.RuleSet`
in process.

It serves one boolean flag (by default ``hatchet.use-links-instead-of-parent``) for any evaluation
context whose ``targeting_key`` is an action_id::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from hatchet_trace_flags import RuleSet, RulesProvider

    api.set_provider(RulesProvider(RuleSet(patterns={"fanout-worker:*": "link"})), "hatchet-trace-flags")
    api.get_client("hatchet-trace-flags").get_boolean_value(
        "hatchet.use-links-instead-of-parent", False, EvaluationContext("fanout-worker:process-item")
    )  # True

How the boolean flag resolves:

- ``value``: ``decision.use_links`` (``default_value`` is returned only on errors);
- ``variant``: the mode, ``"link"`` or ``"parent"``;
- ``reason``: ``TARGETING_MATCH`` (an exact task or a pattern matched), ``DEFAULT`` (nothing matched),
  ``DISABLED`` (kill switch off);
- ``flag_metadata``: ``reason`` (ours: ``exact``/``pattern``/``default``/``disabled``), ``rule`` (the
  action_id or pattern that matched; absent otherwise) and ``version`` (of the rules served).

Errors: another flag key gives ``FLAG_NOT_FOUND``; a context without ``targeting_key`` gives
``TARGETING_KEY_MISSING``; asking for our flag as a string/number/object gives ``TYPE_MISMATCH``.

Time-boxed settings (``RuleSet.expiries``): the provider serves ``rules.at(now)`` (so :attr:`rules` is
what is in force) and, at each ``until``, swaps in the reverted rules and emits
``PROVIDER_CONFIGURATION_CHANGED`` by itself (:mod:`.expiry_timer`), with or without a service.

Evaluation is a dictionary lookup or two and never does I/O, which the class attribute
``evaluates_in_process = True`` tells :class:`~hatchet_trace_flags.FlagPredicate` (it then evaluates
inline on a cache miss instead of on a background thread).

**For subclasses** (``LocalProvider``, the admin-service provider): ``_replace_rules(rules,
version=...)`` swaps the rules and their version as one reference and emits
``PROVIDER_CONFIGURATION_CHANGED`` (``flags_changed=[flag_key]``) only when the rules really changed.
``_report_error(message)`` and ``_report_stale(message)`` emit ``PROVIDER_ERROR``/``PROVIDER_STALE``
(once per distinct message, logged once as a warning) while the last good rules keep being served; the
next ``_replace_rules`` (or ``_recover()``) emits ``PROVIDER_READY``. ``_after_fork_in_child()`` runs in
a forked child once the provider's lock has been renewed: restart background threads there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Final, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OpenFeatureReason
from openfeature.provider import AbstractProvider, Metadata

from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, Reason, RuleSet

from .expiry_timer import ExpiryTimer

__all__ = ["RulesProvider", "rules_version"]

T = TypeVar("T")

logger = logging.getLogger("hatchet_trace_flags")

_OPENFEATURE_REASONS: Final[Mapping[Reason, OpenFeatureReason]] = {
    Reason.EXACT: OpenFeatureReason.TARGETING_MATCH,
    Reason.PATTERN: OpenFeatureReason.TARGETING_MATCH,
    Reason.DEFAULT: OpenFeatureReason.DEFAULT,
    Reason.DISABLED: OpenFeatureReason.DISABLED,
}


@dataclass(frozen=True, slots=True)
class _Served:
    """The rules being served and their version, swapped as one reference."""

    rules: RuleSet  # in force now: expired settings already reverted
    version: str
    text: str  # canonical JSON, to tell a real change from a reload of the same rules
    given: RuleSet  # as given, with every expiry: what the next expiry is applied to
    given_version: str


def rules_version(rules: RuleSet) -> str:
    """A short content hash of ``rules``: equal rule sets get equal versions."""
    return hashlib.sha256(rules.dumps().encode()).hexdigest()[:16]


class RulesProvider(AbstractProvider):
    """An OpenFeature provider serving one boolean flag from a rule set, evaluated in process.

    :param rules: the rules to serve; default: parent mode for every task.
    :param flag_key: the flag this provider answers; any other key is ``FLAG_NOT_FOUND``.
    :param version: a label for these rules (e.g. a snapshot's ETag); default: a hash of their content.
    :param name: the provider name in OpenFeature metadata and events.
    """

    evaluates_in_process: ClassVar[bool] = True

    def __init__(
        self,
        rules: RuleSet | None = None,
        *,
        flag_key: str = DEFAULT_FLAG_KEY,
        version: str | None = None,
        name: str = "hatchet-trace-flags rules",
    ) -> None:
        super().__init__()
        if rules is not None and not isinstance(rules, RuleSet):
            raise TypeError(f"rules must be a RuleSet, got {type(rules).__name__}")
        if not isinstance(flag_key, str) or not flag_key:
            raise ValueError(f"flag_key must be a non-empty string, got {flag_key!r}")
        rules = rules if rules is not None else RuleSet()
        self._flag_key = flag_key
        self._metadata = Metadata(name=name)
        self._lock = threading.Lock()  # orders swaps and the events announcing them
        self._expiry_timer: ExpiryTimer[RulesProvider] = ExpiryTimer(self, RulesProvider._expire)
        with self._lock:
            self._served = self._in_force(rules, version or rules_version(rules))
        self._problem: tuple[ErrorCode | None, str] | None = None  # (code, message) while in ERROR/STALE
        with _live_lock:
            _live_providers.add(self)

    # -- state ------------------------------------------------------------------------------------

    @property
    def flag_key(self) -> str:
        return self._flag_key

    @property
    def rules(self) -> RuleSet:
        """The rules currently served."""
        return self._served.rules

    @property
    def version(self) -> str:
        """The version label of the rules currently served."""
        return self._served.version

    @property
    def last_error(self) -> str | None:
        """The message of the error or staleness currently reported, None when healthy."""
        problem = self._problem
        return None if problem is None else problem[1]

    def _replace_rules(self, rules: RuleSet, *, version: str | None = None) -> bool:
        """Serve ``rules`` from now on. Emits CONFIGURATION_CHANGED (and READY after an error) when they
        differ from the current ones; returns whether they did."""
        version = version or rules_version(rules)
        with self._lock:
            served = self._in_force(rules, version)
            changed = served.text != self._served.text
            self._served = served
            recovered = self._clear_problem()
            if recovered:
                self.emit_provider_ready(ProviderEventDetails(message="rules available again"))
            if changed:
                self.emit_provider_configuration_changed(
                    ProviderEventDetails(
                        flags_changed=[self._flag_key],
                        message=f"rules changed (version {version})",
                        metadata={"version": version},
                    )
                )
        if changed:
            logger.info("hatchet-trace-flags: now serving rules version %s", version)
        return changed

    def _in_force(self, rules: RuleSet, version: str) -> _Served:
        """What to serve of ``rules`` now, with the alarm set for its next expiry."""
        given_version = version
        current = rules.at(datetime.now(UTC))
        if current is not rules:
            # Reverted here, not by the service: a label of its own, derived from the given one.
            version = f"{version}~{rules_version(current)[:8]}"
        self._expiry_timer.schedule(current.next_expiry)
        return _Served(current, version, current.dumps(), rules, given_version)

    def _expire(self) -> None:
        """The alarm rang: serve what is in force now and tell the caches (CONFIGURATION_CHANGED)."""
        with self._lock:
            served = self._served
            current = self._in_force(served.given, served.given_version)
            changed = current.text != served.text
            self._served = current
            if changed:
                self.emit_provider_configuration_changed(
                    ProviderEventDetails(
                        flags_changed=[self._flag_key],
                        message=f"a time-boxed setting ended (version {current.version})",
                        metadata={"version": current.version},
                    )
                )
        if changed:
            logger.info("hatchet-trace-flags: a time-boxed setting ended; now serving %s", current.version)

    def shutdown(self) -> None:
        self._expiry_timer.cancel()

    def _report_error(self, message: str, *, error_code: ErrorCode = ErrorCode.GENERAL) -> None:
        """Enter (or stay in) ERROR while the current rules keep being served."""
        self._report(error_code, message)

    def _report_stale(self, message: str) -> None:
        """Enter (or stay in) STALE: the rules may be out of date but keep being served."""
        self._report(None, message)

    def _recover(self) -> None:
        """Leave ERROR/STALE (emits READY) without changing the rules."""
        with self._lock:
            if self._clear_problem():
                self.emit_provider_ready(ProviderEventDetails(message="rules available again"))

    def _report(self, error_code: ErrorCode | None, message: str) -> None:
        with self._lock:
            if self._problem == (error_code, message):
                return
            self._problem = (error_code, message)
            if error_code is None:
                self.emit_provider_stale(ProviderEventDetails(message=message))
            else:
                self.emit_provider_error(ProviderEventDetails(message=message, error_code=error_code))
        logger.warning("hatchet-trace-flags: %s (still serving rules version %s)", message, self.version)

    def _clear_problem(self) -> bool:
        recovered = self._problem is not None
        if recovered:
            logger.info("hatchet-trace-flags: rules provider recovered")
        self._problem = None
        return recovered

    def emit(self, event: ProviderEvent, details: ProviderEventDetails) -> None:
        # Not attached (not registered yet, or detached concurrently): nobody to tell. A failing event
        # dispatch must never break a rules swap or the thread doing it.
        on_emit = getattr(self, "_on_emit", None)
        if on_emit is None:
            return
        try:
            on_emit(self, event, details)
        except Exception:
            logger.exception("hatchet-trace-flags: dispatching %s failed", event)

    def _after_fork_in_child(self) -> None:
        """Hook for subclasses: restart what a forked child lost (threads). The lock is already renewed."""

    # -- OpenFeature ----------------------------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        return self._metadata

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        if flag_key != self._flag_key:
            return self._flag_not_found(flag_key, default_value)
        action_id = evaluation_context.targeting_key if evaluation_context is not None else None
        if not action_id:
            return FlagResolutionDetails(
                value=default_value,
                reason=OpenFeatureReason.ERROR,
                error_code=ErrorCode.TARGETING_KEY_MISSING,
                error_message="the evaluation context needs targeting_key = the task's action_id",
            )
        served = self._served
        decision = served.rules.evaluate(action_id)
        metadata: dict[str, bool | int | float | str] = {
            "reason": decision.reason.value,
            "version": served.version,
        }
        if decision.rule is not None:
            metadata["rule"] = decision.rule
        return FlagResolutionDetails(
            value=decision.use_links,
            reason=_OPENFEATURE_REASONS[decision.reason],
            variant=decision.mode,
            flag_metadata=metadata,
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._not_boolean(flag_key, default_value)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._not_boolean(flag_key, default_value)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._not_boolean(flag_key, default_value)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._not_boolean(flag_key, default_value)

    def _not_boolean(self, flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
        if flag_key != self._flag_key:
            return self._flag_not_found(flag_key, default_value)
        return FlagResolutionDetails(
            value=default_value,
            reason=OpenFeatureReason.ERROR,
            error_code=ErrorCode.TYPE_MISMATCH,
            error_message=f"{flag_key!r} is a boolean flag",
        )

    def _flag_not_found(self, flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
        return FlagResolutionDetails(
            value=default_value,
            reason=OpenFeatureReason.ERROR,
            error_code=ErrorCode.FLAG_NOT_FOUND,
            error_message=f"this provider serves only {self._flag_key!r}, not {flag_key!r}",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(flag_key={self._flag_key!r}, version={self.version!r})"


# -- fork ----------------------------------------------------------------------------------------

_live_lock = threading.Lock()
_live_providers: weakref.WeakSet[RulesProvider] = weakref.WeakSet()
_held_for_fork: list[RulesProvider] = []


def _before_fork() -> None:
    # Holding every provider's lock across fork means the child never sees a half-announced swap.
    _live_lock.acquire()
    _held_for_fork[:] = list(_live_providers)
    for provider in _held_for_fork:
        provider._lock.acquire()


def _after_fork_in_parent() -> None:
    for provider in _held_for_fork:
        provider._lock.release()
    _held_for_fork.clear()
    _live_lock.release()


def _after_fork_in_child() -> None:
    global _live_lock
    providers = list(_held_for_fork)
    _held_for_fork.clear()
    _live_lock = threading.Lock()
    for provider in providers:
        provider._lock = threading.Lock()
        provider._expiry_timer.after_fork()
    for provider in providers:
        try:
            provider._after_fork_in_child()
        except Exception:
            logger.exception("hatchet-trace-flags: restarting %r after fork failed", provider)


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)

"""What an OpenFeature provider answered about one action_id: the decision, why, and what names it.

``FlagPredicate`` asks the provider on a cache miss and keeps the result; this module reads the provider's
``FlagEvaluationDetails`` into an :class:`Answer` (a failure is an answer too: the error code, no reason) and
turns an answer into the :class:`~hatchet_trace_flags._decisions.evaluation_event.Evaluation` a task start
records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

from openfeature.client import OpenFeatureClient
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails
from openfeature.flag_evaluation import Reason as OpenFeatureReason

from hatchet_trace_flags._decisions.evaluation_event import Evaluation, evaluation
from hatchet_trace_flags.contract import Reason

__all__ = ["KNOWN_REASONS", "Answer", "answer_from", "provider_name_of"]

# Reasons are metric attribute values: keep their set closed so a provider cannot blow up cardinality.
KNOWN_REASONS: Final = frozenset(
    {reason.value for reason in Reason} | {reason.value.lower() for reason in OpenFeatureReason}
)


class Answer(NamedTuple):
    """What the provider said about one action_id (``reason`` is None when it failed)."""

    use_links: bool
    reason: str | None
    error_code: ErrorCode | None = None
    provider_name: str | None = None
    version: str | None = None  # of the rules, as the provider's flag_metadata names it
    rule: str | None = None  # the task or pattern that matched, when the provider names it

    def evaluation(self, action_id: str, flag_key: str, served: bool) -> Evaluation:
        """The decision event of this answer; ``served``: the decision served for it (for a failure, the
        last known one or the default)."""
        if self.reason is None:
            error_type = self.error_code.value.lower() if self.error_code is not None else "general"
            return evaluation(
                action_id,
                served,
                "error",
                flag_key=flag_key,
                provider_name=self.provider_name,
                error_type=error_type,
            )
        return evaluation(
            action_id,
            served,
            self.reason,
            flag_key=flag_key,
            provider_name=self.provider_name,
            version=self.version,
            rule=self.rule,
        )


def answer_from(
    details: FlagEvaluationDetails[bool], default: bool, flag_key: str, provider_name: str | None
) -> tuple[Answer, str | None]:
    """The answer the details give, and the problem to report when they are a failure."""
    if details.error_code is not None:
        problem = f"evaluating {flag_key!r} failed: {details.error_code}: {details.error_message}"
        return Answer(default, None, details.error_code, provider_name), problem
    value: object = details.value
    if type(value) is not bool:  # the async path of some SDK versions lets a wrong type through
        problem = f"evaluating {flag_key!r} returned {value!r}, not a bool"
        return Answer(default, None, ErrorCode.TYPE_MISMATCH, provider_name), problem
    metadata = details.flag_metadata or {}
    answer = Answer(
        value,
        _reason_of(metadata, details.reason),
        provider_name=provider_name,
        version=_text(metadata.get("version")),
        rule=_text(metadata.get("rule")),
    )
    return answer, None


def provider_name_of(client: OpenFeatureClient) -> str | None:
    try:
        return _text(client.provider.get_metadata().name)
    except Exception:  # a provider's metadata is its own code; the event just goes without the name
        return None


def _text(value: object) -> str | None:
    """A flag_metadata or provider metadata value as an attribute text (providers send numbers too)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def _reason_of(flag_metadata: Mapping[str, object], reason: object) -> str:
    ours = flag_metadata.get("reason") if flag_metadata else None  # some providers send None
    if type(ours) is str and ours in KNOWN_REASONS:
        return ours
    theirs = str(reason).lower() if reason is not None else "unknown"
    return theirs if theirs in KNOWN_REASONS else "unknown"

"""The ``feature_flag.evaluation`` span event: a task start's link/parent decision, for the user's backend.

Every task start records its decision on its ``hatchet.start_step_run`` (or ``hatchet.start_batch``) span,
in OpenTelemetry's feature-flag semantic conventions, so a trace says why a span is a root (or a child), which
flag and provider decided it, and under which revision of the rules. The Hatchet engine does not store span
events; they are for the tracing backend the spans are exported to (Jaeger, Tempo, Datadog, Honeycomb, ...).

Attributes (docs/decision-event.md lists them with examples):

- ``feature_flag.key``: the flag (``FlagPredicate.flag_key``; ``hatchet.use-links-instead-of-parent`` when the
  decision came from a plain callable or from a per-run override);
- ``feature_flag.result.variant``: ``link`` or ``parent``;
- ``feature_flag.result.reason``: the conventions' reason, from :data:`CONVENTION_REASONS`;
- ``feature_flag.provider.name``: the OpenFeature provider's metadata name, when a provider decided;
- ``feature_flag.version``: the rules' version as the provider reported it (``flag_metadata["version"]``: the
  admin service's revision label, a rules file's digest), when it did;
- ``feature_flag.context.id``: the action_id (the evaluation context's targeting key);
- ``error.type``: the OpenFeature error code in lower case, for ``error`` reasons only;
- ``hatchet_trace_flags.decision.reason``: our own, finer reason (the first column of the table below);
- ``hatchet_trace_flags.decision.rule``: the task or pattern that matched, when the provider names it.

How our outcomes map onto the conventions' reasons (one table, also in the docs; a test keeps them equal):

=================  ===================  =====================================================================
ours               convention           when
=================  ===================  =====================================================================
``exact``          ``targeting_match``  a rule for this very action_id decided
``pattern``        ``targeting_match``  a pattern rule decided
``default``        ``default``          no rule matched: the rules' default
``disabled``       ``disabled``         the kill switch is off: parent for every task
``override``       ``static``           the trigger asked for this run (``trace_relationship``); no flag asked
``stale``          ``stale``            the provider is away or refreshing: the last answer it gave
``timeout``        ``stale``            a refresh was abandoned: the last answer, else the predicate's default
``pending``        ``default``          the provider has not answered yet: the predicate's default
``error``          ``error``            the provider failed: the last answer, else the default (+ error.type)
``predicate_error`` ``error``           the callable raised or returned a non-bool: parent (+ error.type)
``callable``       ``unknown``          a plain callable decided, not a flag: nothing says why
=================  ===================  =====================================================================

Any other reason a third-party provider gives (``split``, ``cached``, ``static``, ...) is one of the
conventions' own values already and passes through unchanged; anything else becomes ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import Span

from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY

__all__ = [
    "CONVENTION_REASONS",
    "EVALUATION_EVENT",
    "Evaluation",
    "convention_reason",
    "evaluation",
    "record_evaluation",
]

EVALUATION_EVENT: Final = "feature_flag.evaluation"
# The conventions' names. opentelemetry-semantic-conventions has them too, but only in its incubating module
# and only in releases newer than our OpenTelemetry floor; a test compares the two.
FLAG_KEY: Final = "feature_flag.key"
RESULT_VARIANT: Final = "feature_flag.result.variant"
RESULT_REASON: Final = "feature_flag.result.reason"
PROVIDER_NAME: Final = "feature_flag.provider.name"
VERSION: Final = "feature_flag.version"
CONTEXT_ID: Final = "feature_flag.context.id"
ERROR_TYPE: Final = "error.type"
DECISION_REASON: Final = "hatchet_trace_flags.decision.reason"
DECISION_RULE: Final = "hatchet_trace_flags.decision.rule"

# The table of the module documentation: our reason -> the conventions' feature_flag.result.reason.
CONVENTION_REASONS: Final[Mapping[str, str]] = {
    "exact": "targeting_match",
    "pattern": "targeting_match",
    "default": "default",
    "disabled": "disabled",
    "override": "static",
    "stale": "stale",
    "timeout": "stale",
    "pending": "default",
    "error": "error",
    "predicate_error": "error",
    "callable": "unknown",
}
# The conventions' own reason values (OpenFeature's, in lower case): a provider's pass through unchanged.
_CONVENTION_VALUES: Final = frozenset(
    {"static", "default", "targeting_match", "split", "cached", "disabled", "unknown", "stale", "error"}
)


def convention_reason(reason: str) -> str:
    """``feature_flag.result.reason`` for one of our reasons or a provider's (lower case)."""
    mapped = CONVENTION_REASONS.get(reason)
    if mapped is not None:
        return mapped
    return reason if reason in _CONVENTION_VALUES else "unknown"


class Evaluation:
    """One decision (``use_links``) and the attributes of its ``feature_flag.evaluation`` event.

    Built when a decision is made and kept with it (``FlagPredicate`` caches it beside the bool), so a cached
    decision records its event without building anything: the immutable attribute set is validated once, on
    the first event, and shared by every later one.
    """

    __slots__ = ("_event_attributes", "_served_as", "attributes", "use_links")

    def __init__(self, use_links: bool, attributes: Mapping[str, str]) -> None:
        self.use_links = use_links
        self.attributes = attributes
        self._event_attributes: BoundedAttributes | None = None
        self._served_as: dict[str, Evaluation] = {}

    @property
    def reason(self) -> str:
        """Our reason (``hatchet_trace_flags.decision.reason``)."""
        return self.attributes[DECISION_REASON]

    @property
    def version(self) -> str | None:
        return self.attributes.get(VERSION)

    def served_as(self, reason: str) -> Evaluation:
        """This decision served again for another ``reason`` (``stale``: while the provider is away), with
        the same flag, provider, version and rule. Kept: an outage builds nothing per task start."""
        served = self._served_as.get(reason)
        if served is None:
            attributes = {
                **self.attributes,
                RESULT_REASON: convention_reason(reason),
                DECISION_REASON: reason,
            }
            served = self._served_as[reason] = Evaluation(self.use_links, attributes)
        return served

    def event_attributes(self) -> BoundedAttributes:
        built = self._event_attributes
        if built is None:
            # Validating the attributes is most of an event's cost (~3 µs for these); once per decision.
            built = self._event_attributes = BoundedAttributes(attributes=self.attributes, immutable=True)
        return built

    def __repr__(self) -> str:
        return f"Evaluation(use_links={self.use_links}, attributes={dict(self.attributes)!r})"


def evaluation(
    action_id: str,
    use_links: bool,
    reason: str,
    *,
    flag_key: str = DEFAULT_FLAG_KEY,
    provider_name: str | None = None,
    version: str | None = None,
    rule: str | None = None,
    error_type: str | None = None,
) -> Evaluation:
    """The decision ``use_links`` for ``action_id``, made for ``reason`` (ours or a provider's)."""
    attributes = {
        FLAG_KEY: flag_key,
        RESULT_VARIANT: "link" if use_links else "parent",
        RESULT_REASON: convention_reason(reason),
        CONTEXT_ID: action_id,
        DECISION_REASON: reason,
    }
    if provider_name:
        attributes[PROVIDER_NAME] = provider_name
    if version:
        attributes[VERSION] = version
    if rule:
        attributes[DECISION_RULE] = rule
    if error_type:
        attributes[ERROR_TYPE] = error_type
    return Evaluation(use_links, attributes)


def record_evaluation(span: Span, decided: Evaluation) -> None:
    """Add the ``feature_flag.evaluation`` event to ``span`` if it is recording (and there is one: a decision
    made with events off, or none made at all, has no attributes)."""
    global _private_events
    attributes = decided.attributes
    if not attributes or not span.is_recording():
        return
    # The SDK's public add_event re-validates every attribute on every call (~3 µs for these); its private
    # _add_event takes an Event whose immutable attributes were validated once. That is only the same event
    # under the span's default limits; tests/library/decisions/test_private_add_event.py pins both paths
    # against each other on the OpenTelemetry SDK installed, and a changed signature falls back here.
    if _private_events and isinstance(span, SdkSpan) and _within_limits(span, len(attributes)):
        try:
            span._add_event(Event(EVALUATION_EVENT, decided.event_attributes()))
            return
        except TypeError:  # an SDK whose _add_event no longer takes one Event: the public call from now on
            _private_events = False
    span.add_event(EVALUATION_EVENT, attributes)


# Whether Span._add_event(event) is still what this module was written against (OpenTelemetry SDK 1.35-1.45).
_private_events = callable(getattr(SdkSpan, "_add_event", None))


def _within_limits(span: SdkSpan, count: int) -> bool:
    """Whether the public add_event would keep these attributes as they are: no value-length limit, and room
    for ``count`` attributes (both unset by default; OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT sets the first)."""
    limits = getattr(span, "_limits", None)
    if limits is None:
        return False
    most = limits.max_event_attributes
    return limits.max_attribute_length is None and (most is None or most >= count)

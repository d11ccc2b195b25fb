"""Export a :class:`~hatchet_trace_flags.RuleSet` as a flagd flag-definition document.

flagd, and any system that reads flagd's flag definitions, can then serve the same decisions as this
library::

    import json
    from hatchet_trace_flags import RuleSet, to_flagd

    rules = RuleSet(patterns={"fanout-worker:*": "link"}, tasks={"fanout-worker:audit": "parent"})
    with open("flags.flagd.json", "w") as file:
        json.dump(to_flagd(rules), file, indent=2)

The document has one boolean flag (``hatchet.use-links-instead-of-parent`` unless ``flag_key`` says
otherwise) with the variants ``link`` (true) and ``parent`` (false). Its JsonLogic targeting reads the
evaluation context's ``targetingKey``, which must be the action_id, and encodes the precedence of
:meth:`RuleSet.evaluate`: exact tasks first (``in``), then patterns ordered longest literal first with
``parent`` ahead of ``link`` on equal length (``starts_with``/``ends_with``), then ``default`` (also
the ``defaultVariant``, used when no targeting key is given). With the kill switch off the flag has
no targeting and ``defaultVariant`` ``parent``. The flag itself stays ``ENABLED``: a ``DISABLED``
flagd flag makes clients fall back to their own code default, not to ``parent``.

Time-boxed settings (expiries) are expressed with flagd's ``$flagd.timestamp`` (Unix seconds at
evaluation): the targeting becomes one JsonLogic ``if`` over the time, each phase between two ``until``
the whole targeting of the rules in force then, so flagd reverts on time by itself. flagd's timestamp
is whole seconds: a phase ends at the first whole second at or after its ``until``. At most
:data:`MAX_FLAGD_PHASES` distinct ``until`` times are exported (each repeats the targeting); more are
refused with :class:`RulesError`.
"""

from __future__ import annotations

from itertools import groupby
from typing import Final

from ._decision import Mode, RulesError
from ._rule_set import DEFAULT_FLAG_KEY, RuleSet

__all__ = ["FLAGD_SCHEMA_URL", "MAX_FLAGD_PHASES", "to_flagd"]

FLAGD_SCHEMA_URL: Final = "https://flagd.dev/schema/v0/flags.json"
MAX_FLAGD_PHASES: Final = 20


def _targeting_key() -> dict[str, object]:
    # A fresh dict per use, so a caller editing one place of the document does not edit them all.
    return {"var": "targetingKey"}


def to_flagd(rules: RuleSet, *, flag_key: str = DEFAULT_FLAG_KEY) -> dict[str, object]:
    """The flagd flag-definition document that decides like ``rules.evaluate(targetingKey)``."""
    if not isinstance(flag_key, str) or not flag_key:
        raise RulesError("flag_key", f"must be a non-empty string, got {flag_key!r}")
    flag: dict[str, object] = {
        "state": "ENABLED",
        "variants": {"link": True, "parent": False},
        "defaultVariant": rules.default if rules.links_enabled else "parent",
    }
    if rules.expiries:
        flag["targeting"] = _timed_targeting(rules)
    elif rules.links_enabled:
        targeting = _targeting(rules)
        if targeting is not None:
            flag["targeting"] = targeting
    return {"$schema": FLAGD_SCHEMA_URL, "flags": {flag_key: flag}}


def _timed_targeting(rules: RuleSet) -> dict[str, object]:
    expiries = rules.expiries
    untils = {expiry.until for expiry in (*expiries.tasks.values(), *expiries.patterns.values())}
    if expiries.links_enabled is not None:
        untils.add(expiries.links_enabled.until)
    if len(untils) > MAX_FLAGD_PHASES:
        raise RulesError(
            "expiries",
            f"{len(untils)} distinct until times; the flagd export expresses at most {MAX_FLAGD_PHASES} "
            "(each repeats the whole targeting): export again after some have ended",
        )
    branches: list[object] = []
    phase = rules
    for until in sorted(untils):
        branches += [{"<": [{"var": "$flagd.timestamp"}, until.timestamp()]}, _phase(phase)]
        phase = rules.at(until)
    return {"if": [*branches, _phase(phase)]}


def _phase(rules: RuleSet) -> object:
    """What the targeting answers while ``rules`` are in force: a variant, or an expression."""
    if not rules.links_enabled:
        return "parent"
    return _targeting(rules) or rules.default


def _targeting(rules: RuleSet) -> dict[str, object] | None:
    # One JsonLogic "if": condition, variant, condition, variant, ..., fallback variant.
    branches: list[object] = []
    for mode in ("link", "parent"):
        action_ids = [action_id for action_id, task_mode in rules.tasks.items() if task_mode == mode]
        if action_ids:
            branches += [{"in": [_targeting_key(), action_ids]}, mode]
    # The first matching pattern in this order is the one RuleSet.evaluate picks: longest literal
    # first, and on equal length parent before link, which is how a tie goes to parent.
    ordered = sorted(rules.patterns.items(), key=lambda item: (-len(item[0]), item[1] != "parent", item[0]))
    for mode, run in groupby(ordered, key=lambda item: item[1]):
        conditions = [_pattern_condition(pattern) for pattern, _ in run]
        branches += [conditions[0] if len(conditions) == 1 else {"or": conditions}, mode]
    if not branches:
        return None
    fallback: Mode = rules.default
    return {"if": [*branches, fallback]}


def _pattern_condition(pattern: str) -> dict[str, object]:
    if pattern.endswith("*"):
        return {"starts_with": [_targeting_key(), pattern[:-1]]}
    return {"ends_with": [_targeting_key(), pattern[1:]]}

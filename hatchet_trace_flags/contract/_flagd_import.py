"""Read a flagd flag definition written by :func:`hatchet_trace_flags.to_flagd` back as a rule set.

``to_flagd`` encodes a rule set as one JsonLogic ``if``: ``in`` lists of action_ids, then
``starts_with``/``ends_with`` pattern conditions (grouped with ``or``), then the default variant. This
module walks that exact shape back. It is only sound for documents of that shape: a hand-written
targeting could order its conditions in a way :meth:`RuleSet.evaluate` would not. So the result is
checked by exporting it again; anything that does not come back identical is refused with a message
that says so, rather than imported with different decisions.

One loss is inherent: ``to_flagd`` writes a rule set whose kill switch is on (``links_enabled:
false``) as a flag without targeting, so such a document reads back as "everything parent", with no
tasks or patterns. The import's change summary shows that before anything is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._decision import RulesError
from ._flagd_export import to_flagd
from ._rule_set import DEFAULT_FLAG_KEY, RuleSet

__all__ = ["FlagdConversionError", "is_flagd_document", "rules_from_flagd"]

_VARIANTS = {"link": True, "parent": False}
_TARGETING_KEY = {"var": "targetingKey"}


class FlagdConversionError(ValueError):
    """The document is flagd's format but cannot be read back as rules."""


def is_flagd_document(document: object) -> bool:
    """flagd's flag-definition format: a ``flags`` object, and none of our rule document's keys."""
    return (
        isinstance(document, Mapping)
        and isinstance(document.get("flags"), Mapping)
        and not {"version", "tasks", "patterns", "default", "links_enabled"} & document.keys()
    )


def rules_from_flagd(document: Mapping[str, Any]) -> tuple[str, RuleSet]:
    """``(flag key, rules)`` such that ``to_flagd(rules, flag_key=key)`` is ``document``."""
    extra = set(document) - {"$schema", "flags"}
    if extra:
        raise FlagdConversionError(
            f"unexpected top-level key(s) {', '.join(sorted(map(str, extra)))}: not a document written "
            "by to_flagd()"
        )
    flags: Mapping[str, Any] = document["flags"]
    key = _pick_flag(flags)
    flag = flags[key]
    if not isinstance(flag, Mapping) or flag.get("variants") != _VARIANTS:
        raise FlagdConversionError(
            f"flag {key!r} is not a link/parent boolean flag (variants must be "
            '{"link": true, "parent": false})'
        )
    default = flag.get("defaultVariant")
    if default not in _VARIANTS:
        raise FlagdConversionError(
            f"flag {key!r}: defaultVariant must be 'link' or 'parent', got {default!r}"
        )
    tasks: dict[str, str] = {}
    patterns: dict[str, str] = {}
    fallback = default
    if "targeting" in flag:
        fallback = _read_targeting(flag["targeting"], tasks, patterns)
        if fallback != default:
            raise FlagdConversionError("targeting's last variant differs from defaultVariant")
    try:
        rules = RuleSet(default=default, tasks=tasks, patterns=patterns)  # type: ignore[arg-type]
    except RulesError as error:
        raise FlagdConversionError(str(error)) from None
    if _normalized(to_flagd(rules, flag_key=key)["flags"]) != _normalized({key: flag}):
        raise FlagdConversionError(
            "its targeting is not in the form to_flagd() writes (order or conditions differ), so it "
            "cannot be read back as rules without changing decisions; write a rules document instead "
            "(docs/rules.md)"
        )
    return key, rules


def _pick_flag(flags: Mapping[str, Any]) -> str:
    if DEFAULT_FLAG_KEY in flags:
        return DEFAULT_FLAG_KEY
    if len(flags) == 1:
        return str(next(iter(flags)))
    raise FlagdConversionError(
        f"no flag {DEFAULT_FLAG_KEY!r} among {len(flags)} flags; export that one flag on its own"
    )


def _read_targeting(targeting: object, tasks: dict[str, str], patterns: dict[str, str]) -> str:
    if (
        not isinstance(targeting, Mapping)
        or set(targeting) != {"if"}
        or not isinstance(targeting["if"], list)
    ):
        raise FlagdConversionError('targeting must be one JsonLogic "if", as to_flagd() writes it')
    branches = targeting["if"]
    if len(branches) % 2 != 1:
        raise FlagdConversionError('the "if" must end with a fallback variant')
    for condition, mode in zip(branches[0:-1:2], branches[1:-1:2], strict=True):
        if mode not in _VARIANTS:
            raise FlagdConversionError(f"variant {mode!r} is neither 'link' nor 'parent'")
        _read_condition(condition, mode, tasks, patterns)
    fallback = branches[-1]
    if fallback not in _VARIANTS:
        raise FlagdConversionError(f"fallback variant {fallback!r} is neither 'link' nor 'parent'")
    return str(fallback)


def _read_condition(condition: object, mode: str, tasks: dict[str, str], patterns: dict[str, str]) -> None:
    if not isinstance(condition, Mapping) or len(condition) != 1:
        raise FlagdConversionError(f"condition {condition!r} is not one to_flagd() writes")
    [(operator, operands)] = condition.items()
    if operator == "or" and isinstance(operands, list):
        for inner in operands:
            _read_condition(inner, mode, patterns=patterns, tasks={})  # patterns only inside "or"
        return
    if not isinstance(operands, list) or len(operands) != 2 or operands[0] != _TARGETING_KEY:
        raise FlagdConversionError(f"condition {condition!r} does not test the targetingKey")
    value = operands[1]
    if operator == "in" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        tasks.update(dict.fromkeys(value, mode))
    elif operator == "starts_with" and isinstance(value, str):
        patterns[f"{value}*"] = mode
    elif operator == "ends_with" and isinstance(value, str):
        patterns[f"*{value}"] = mode
    else:
        raise FlagdConversionError(f"condition {condition!r} is not one to_flagd() writes")


def _normalized(value: object) -> object:
    """Equal for documents that differ only in the order of an ``in`` list (a set, to JsonLogic)."""
    if isinstance(value, Mapping):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_normalized(item) for item in value]
        if all(isinstance(item, str) for item in items):
            return sorted(items)  # type: ignore[type-var]
        return items
    return value

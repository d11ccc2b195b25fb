"""The lookup tables a rule set builds once, so that evaluating an action_id is a few dict lookups: exact
tasks, then pattern literals by length, longest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._decision import Decision, Mode, Reason
from ._names import pattern_literal

__all__ = ["PatternIndex", "build_index"]


@dataclass(frozen=True, slots=True)
class PatternIndex:
    """Lookup tables built once per rule set so evaluation is a few dict lookups."""

    exact: Mapping[str, Decision]
    prefixes: Mapping[str, Decision]
    suffixes: Mapping[str, Decision]
    # (literal length, any prefix of that length, any suffix of that length), longest first: the
    # first length with a match decides.
    steps: tuple[tuple[int, bool, bool], ...]
    fallback: Decision


def build_index(
    default: Mode, links_enabled: bool, tasks: Mapping[str, Mode], patterns: Mapping[str, Mode]
) -> PatternIndex:
    if not links_enabled:
        return PatternIndex({}, {}, {}, (), Decision("parent", Reason.DISABLED, None))
    prefixes: dict[str, Decision] = {}
    suffixes: dict[str, Decision] = {}
    for pattern, mode in patterns.items():
        literal, is_prefix = pattern_literal(pattern)
        (prefixes if is_prefix else suffixes)[literal] = Decision(mode, Reason.PATTERN, pattern)
    return PatternIndex(
        exact={action_id: Decision(mode, Reason.EXACT, action_id) for action_id, mode in tasks.items()},
        prefixes=prefixes,
        suffixes=suffixes,
        steps=_steps({len(literal) for literal in prefixes}, {len(literal) for literal in suffixes}),
        fallback=Decision(default, Reason.DEFAULT, None),
    )


def _steps(prefix_lengths: set[int], suffix_lengths: set[int]) -> tuple[tuple[int, bool, bool], ...]:
    return tuple(
        (length, length in prefix_lengths, length in suffix_lengths)
        for length in sorted(prefix_lengths | suffix_lengths, reverse=True)
    )

"""Hypothesis strategies for rule sets, shared by the rules and flagd tests.

A tiny alphabet, so that generated action_ids collide with generated exact entries and pattern literals,
and ties actually happen.
"""

from __future__ import annotations

from typing import get_args

from hypothesis import strategies as st

from hatchet_trace_flags.contract import Mode, RuleSet

MODES: tuple[Mode, ...] = get_args(Mode)
modes = st.sampled_from(MODES)
small_texts = st.text(alphabet="ab:_", min_size=1, max_size=5)


def as_pattern(literal: str, is_prefix: bool) -> str:
    return f"{literal}*" if is_prefix else f"*{literal}"


patterns_strategy = st.builds(as_pattern, small_texts, st.booleans())


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    return RuleSet(
        default=draw(modes),
        links_enabled=draw(st.booleans()),
        tasks=draw(st.dictionaries(small_texts, modes, max_size=6)),
        patterns=draw(st.dictionaries(patterns_strategy, modes, max_size=8)),
    )


def action_ids_for(rules: RuleSet) -> st.SearchStrategy[str]:
    """Action ids that hit the rule set's exact entries and patterns often, and miss them too."""
    choices: list[st.SearchStrategy[str]] = [st.text(alphabet="ab:_", min_size=0, max_size=8)]
    if rules.tasks:
        choices.append(st.sampled_from(sorted(rules.tasks)))
    if rules.patterns:
        choices.append(
            st.builds(
                lambda pattern, extra: pattern.replace("*", extra),
                st.sampled_from(sorted(rules.patterns)),
                st.text(alphabet="ab:_", max_size=3),
            )
        )
    return st.one_of(choices)

"""Cost of RuleSet.evaluate() next to a plain dict.get, measured in the same run.

Cases: an exact hit, a pattern hit among 1,000 patterns, a miss that falls to the default, and the
kill switch. Decisions for non-exact action_ids are memoized per rule set, so the pattern and default
cases are shown twice: repeated (what a worker sees: the same few action_ids over and over) and
first-time (the index walk, ``RuleSet._match``). Also: loading and editing a 10,000-entry document.

Run: ``python -m benchmarks.bench_rules`` (or ``python -m benchmarks`` for all benchmarks).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from hatchet_trace_flags.contract import MAX_ENTRIES, Mode, RuleSet, to_flagd

_REPEATS = 5


def _ns_per_op(statement: str, namespace: dict[str, object]) -> float:
    timer = timeit.Timer(statement, globals=namespace)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=_REPEATS, number=number)) / number * 1e9


def _seconds(action: Callable[[], object], *, number: int = 3) -> float:
    return min(timeit.repeat(action, repeat=number, number=1))


def _thousand_patterns() -> dict[str, Mode]:
    # Half prefix, half suffix patterns with literal lengths spread over 13..28 characters, which is
    # what namespaced workflow and task names look like.
    patterns: dict[str, Mode] = {}
    for number in range(500):
        patterns[f"ns{number % 10}_workflow-{number}{'x' * (number % 7)}:*"] = "link"
        patterns[f"*:task-{number}{'y' * (number % 9)}-handler"] = "parent" if number % 3 else "link"
    return patterns


def main() -> None:
    patterns = _thousand_patterns()
    tasks: dict[str, Mode] = {f"ns1_exact-{number}:run": "link" for number in range(1_000)}
    rules = RuleSet(tasks=tasks, patterns=patterns)
    disabled = rules.with_settings(links_enabled=False)
    exact_id = "ns1_exact-500:run"
    pattern_id = "ns7_workflow-257xxxxx:resize"
    default_id = "other_namespace_workflow:unrelated-task"
    assert rules.evaluate(exact_id).reason == "exact"
    assert rules.evaluate(pattern_id).rule == "ns7_workflow-257xxxxx:*"
    assert rules.evaluate(default_id).reason == "default"
    lookup = {**tasks, **patterns}
    namespace: dict[str, object] = {
        "rules": rules,
        "disabled": disabled,
        "lookup": lookup,
        "exact_id": exact_id,
        "pattern_id": pattern_id,
        "default_id": default_id,
    }

    baseline = _ns_per_op("lookup.get(exact_id)", namespace)
    cases = [
        ("evaluate: exact hit", "rules.evaluate(exact_id)"),
        ("evaluate: pattern hit, repeated", "rules.evaluate(pattern_id)"),
        ("evaluate: default miss, repeated", "rules.evaluate(default_id)"),
        ("evaluate: kill switch off", "disabled.evaluate(pattern_id)"),
        ("first time: pattern hit (index walk)", "rules._match(pattern_id)"),
        ("first time: default miss (index walk)", "rules._match(default_id)"),
    ]
    lengths = len(rules._index.steps)
    print(f"bench_rules: 1,000 exact tasks, 1,000 patterns ({lengths} distinct literal lengths)")
    print(f"  {'dict.get (baseline)':<40} {baseline:8.1f} ns/op   1.0x")
    for label, statement in cases:
        cost = _ns_per_op(statement, namespace)
        print(f"  {label:<40} {cost:8.1f} ns/op {cost / baseline:5.1f}x")

    big_tasks: dict[str, Mode] = {
        f"ns_workflow:task-{number}": "link" for number in range(MAX_ENTRIES - 1_000)
    }
    big_text = RuleSet(tasks=big_tasks, patterns=patterns).dumps()
    big = RuleSet.loads(big_text)
    bulk = [
        ("loads, 10,000 entries", lambda: RuleSet.loads(big_text)),
        ("with_task on 10,000 entries", lambda: big.with_task("ns_workflow:task-1", "parent")),
        ("to_flagd, 10,000 entries", lambda: to_flagd(big)),
    ]
    for label, action in bulk:
        print(f"  {label:<40} {_seconds(action) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()

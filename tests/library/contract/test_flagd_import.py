"""Reading a `to_flagd()` document back as rules: exact round trips, and clear refusals otherwise."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hatchet_trace_flags import DEFAULT_FLAG_KEY, RuleSet, to_flagd
from hatchet_trace_flags.contract import FlagdConversionError, is_flagd_document, rules_from_flagd

ROUND_TRIPS = {
    "empty": RuleSet(),
    "default-link": RuleSet(default="link"),
    "tasks-only": RuleSet(tasks={"a:b": "link", "c:d": "parent"}),
    "tied-patterns": RuleSet(
        patterns={"fanout:*": "link", "*:fanout": "parent", "abc*": "link", "*xyz": "link"}
    ),
    "everything": RuleSet(
        default="link",
        tasks={"prod_fanout-worker:process-item": "parent", "shop:mail": "link"},
        patterns={"fanout-worker:*": "link", "*:send-email": "parent", "f*": "parent", "*:x": "link"},
    ),
}


@pytest.mark.parametrize("rules", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_a_to_flagd_document_reads_back_as_the_same_rules(rules: RuleSet) -> None:
    document = json.loads(json.dumps(to_flagd(rules)))
    assert is_flagd_document(document)
    assert rules_from_flagd(document) == (DEFAULT_FLAG_KEY, rules)


def test_a_custom_flag_key_and_reordered_task_lists_are_accepted() -> None:
    rules = RuleSet(tasks={"a:b": "link", "c:d": "link", "e:f": "link"})
    document = to_flagd(rules, flag_key="tracing.links")
    targeting: Any = document["flags"]["tracing.links"]["targeting"]  # type: ignore[index]
    targeting["if"][0]["in"][1].reverse()  # `in` is a set to JsonLogic
    assert rules_from_flagd(document) == ("tracing.links", rules)


def test_the_kill_switch_reads_back_as_the_same_decisions_without_the_entries() -> None:
    killed = RuleSet(links_enabled=False, default="link", tasks={"a:b": "link"})
    _, rules = rules_from_flagd(to_flagd(killed))
    assert rules == RuleSet()
    assert rules.evaluate("a:b").use_links == killed.evaluate("a:b").use_links


def test_our_rules_document_is_not_taken_for_a_flagd_one() -> None:
    assert not is_flagd_document(RuleSet(tasks={"a:b": "link"}).to_document())
    assert not is_flagd_document({"version": 1, "flags": {}})
    assert not is_flagd_document([1, 2])


def _edited(change: str) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(
        to_flagd(RuleSet(tasks={"a:b": "link"}, patterns={"fan*": "link", "fanout:*": "parent"}))
    )
    flag = document["flags"][DEFAULT_FLAG_KEY]
    if change == "extra-key":
        document["$evaluators"] = {}
    elif change == "two-flags":
        document["flags"]["other"] = document["flags"].pop(DEFAULT_FLAG_KEY)
        document["flags"]["another"] = flag
    elif change == "variants":
        flag["variants"] = {"on": True, "off": False}
    elif change == "reordered":
        flag["targeting"]["if"][2:6] = [*flag["targeting"]["if"][4:6], *flag["targeting"]["if"][2:4]]
    elif change == "fallback":
        flag["targeting"]["if"][-1] = "link"
    elif change == "other-operator":
        flag["targeting"]["if"][0] = {"==": [{"var": "targetingKey"}, "a:b"]}
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("extra-key", "unexpected top-level key(s) $evaluators"),
        ("two-flags", f"no flag {DEFAULT_FLAG_KEY!r} among 2 flags"),
        ("variants", "is not a link/parent boolean flag"),
        ("reordered", "not in the form to_flagd() writes"),
        ("fallback", "differs from defaultVariant"),
        ("other-operator", "is not one to_flagd() writes"),
    ],
)
def test_documents_it_cannot_read_back_exactly_are_refused(change: str, message: str) -> None:
    with pytest.raises(
        FlagdConversionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")
    ):
        rules_from_flagd(_edited(change))

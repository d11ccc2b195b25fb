"""The flagd export: flagd's own evaluator (openfeature-flagd-core), run on the export, decides like we do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason as FlagdReason

from hatchet_trace_flags.contract import (
    DEFAULT_FLAG_KEY,
    FLAGD_SCHEMA_URL,
    MAX_FLAGD_PHASES,
    Expiry,
    RulesError,
    RuleSet,
    to_flagd,
)
from tests.support.flags.rule_strategies import action_ids_for, rule_sets
from tests.support.waiting import wait_until


def flagd_serving(rules: RuleSet, *, flag_key: str = DEFAULT_FLAG_KEY) -> FlagdCore:
    core = FlagdCore()
    # Through JSON text, as flagd would read a file: proves the export is plain JSON.
    core.set_flags(json.dumps(to_flagd(rules, flag_key=flag_key)))
    return core


def flagd_mode(core: FlagdCore, action_id: str | None, *, flag_key: str = DEFAULT_FLAG_KEY) -> str | None:
    context = EvaluationContext(targeting_key=action_id)
    # The code default is deliberately neither variant's value source: a result must come from flagd.
    details = core.resolve_boolean_value(flag_key, default_value=False, ctx=context)
    assert details.value is (details.variant == "link")
    return details.variant


@pytest.fixture
def fanout_rules() -> RuleSet:
    return RuleSet(
        default="parent",
        tasks={"prod_fanout-worker:audit": "parent", "prod_billing:charge": "link"},
        patterns={"prod_fanout-worker:*": "link", "prod_*": "parent", "*:send-email": "link"},
    )


def test_export_is_one_boolean_flag_with_link_and_parent_variants(fanout_rules: RuleSet) -> None:
    document = to_flagd(fanout_rules)
    assert document["$schema"] == FLAGD_SCHEMA_URL
    flags = document["flags"]
    assert isinstance(flags, dict)
    assert list(flags) == [DEFAULT_FLAG_KEY]
    flag = flags[DEFAULT_FLAG_KEY]
    assert flag["state"] == "ENABLED"
    assert flag["variants"] == {"link": True, "parent": False}
    assert flag["defaultVariant"] == "parent"
    assert "targeting" in flag


@pytest.mark.parametrize(
    ("action_id", "expected"),
    [
        ("prod_fanout-worker:audit", "parent"),  # exact beats the link pattern
        ("prod_billing:charge", "link"),  # exact beats the parent pattern
        ("prod_fanout-worker:resize", "link"),  # longest literal
        ("prod_billing:refund", "parent"),
        ("prod_billing:send-email", "link"),  # suffix longer than prefix
        ("staging:resize", "parent"),  # default
    ],
)
def test_flagd_evaluates_the_export_like_evaluate(
    fanout_rules: RuleSet, action_id: str, expected: str
) -> None:
    core = flagd_serving(fanout_rules)
    assert fanout_rules.evaluate(action_id).mode == expected
    assert flagd_mode(core, action_id) == expected


def test_flagd_resolves_ties_to_parent() -> None:
    rules = RuleSet(default="link", patterns={"ab:*": "link", "*:ab": "parent"})
    assert flagd_mode(flagd_serving(rules), "ab:ab") == "parent"
    assert flagd_mode(flagd_serving(rules), "ab:zz") == "link"


def test_kill_switch_exports_a_static_parent_flag(fanout_rules: RuleSet) -> None:
    disabled = fanout_rules.with_settings(links_enabled=False, default="link")
    flag = to_flagd(disabled)["flags"][DEFAULT_FLAG_KEY]  # type: ignore[index]
    assert flag == {
        "state": "ENABLED",
        "variants": {"link": True, "parent": False},
        "defaultVariant": "parent",
    }
    core = flagd_serving(disabled)
    assert flagd_mode(core, "prod_billing:charge") == "parent"
    details = core.resolve_boolean_value(DEFAULT_FLAG_KEY, True, EvaluationContext(targeting_key="x"))
    assert (details.value, details.reason) == (False, FlagdReason.STATIC)


def test_rules_without_entries_export_a_static_default() -> None:
    flag = to_flagd(RuleSet(default="link"))["flags"][DEFAULT_FLAG_KEY]  # type: ignore[index]
    assert "targeting" not in flag
    assert flagd_mode(flagd_serving(RuleSet(default="link")), "any:task") == "link"


def test_missing_targeting_key_gets_the_default_variant(fanout_rules: RuleSet) -> None:
    core = flagd_serving(fanout_rules.with_settings(default="link"))
    assert flagd_mode(core, None) == "link"


def test_custom_flag_key(fanout_rules: RuleSet) -> None:
    core = flagd_serving(fanout_rules, flag_key="tracing.links")
    assert flagd_mode(core, "prod_billing:charge", flag_key="tracing.links") == "link"
    assert list(to_flagd(fanout_rules, flag_key="tracing.links")["flags"]) == ["tracing.links"]  # type: ignore[call-overload]


@pytest.mark.parametrize("flag_key", ["", None, 3])
def test_bad_flag_key_is_refused(fanout_rules: RuleSet, flag_key: object) -> None:
    with pytest.raises(RulesError) as raised:
        to_flagd(fanout_rules, flag_key=flag_key)  # type: ignore[arg-type]
    assert raised.value.field == "flag_key"


def test_export_sections_are_independent_objects(fanout_rules: RuleSet) -> None:
    document = to_flagd(fanout_rules)
    targeting = document["flags"][DEFAULT_FLAG_KEY]["targeting"]  # type: ignore[index]
    targeting["if"][0]["in"][0]["var"] = "somethingElse"
    assert json.dumps(to_flagd(fanout_rules)) != json.dumps(document)
    assert '"var": "somethingElse"' not in json.dumps(to_flagd(fanout_rules))
    # only the edited reference changed
    assert json.dumps(document).count("somethingElse") == 1


@given(rules=rule_sets(), data=st.data())
@settings(max_examples=300, deadline=None)
def test_flagd_core_agrees_with_evaluate_on_random_rule_sets(rules: RuleSet, data: st.DataObject) -> None:
    core = flagd_serving(rules)
    for action_id in data.draw(st.lists(action_ids_for(rules), min_size=1, max_size=12)):
        assert flagd_mode(core, action_id) == rules.evaluate(action_id).mode, action_id


# ---------------------------------------------------------------------------------------------------
# Time-boxed settings: flagd reverts by itself, through $flagd.timestamp


def test_a_timed_rule_set_reverts_in_flagd_at_until() -> None:
    # flagd's timestamp is whole seconds: the switch comes at the first whole second at or after until.
    until = datetime.now(UTC) + timedelta(seconds=2)
    rules = (
        RuleSet(patterns={"prod_*": "parent"})
        .with_task("prod_billing:charge", "link", expiry=Expiry(until, None))
        .with_pattern("prod_fanout-worker:*", "link", expiry=Expiry(until + timedelta(days=1), "parent"))
    )
    core = flagd_serving(rules)
    assert flagd_mode(core, "prod_billing:charge") == "link"
    assert flagd_mode(core, "prod_fanout-worker:resize") == "link"
    wait_until(lambda: flagd_mode(core, "prod_billing:charge") == "parent", what="flagd reverts at until")
    assert datetime.now(UTC) >= until
    assert flagd_mode(core, "prod_fanout-worker:resize") == "link"  # its until is a day away


def test_a_timed_kill_switch_is_exported_as_parent_until_it_ends() -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    rules = RuleSet(tasks={"a:b": "link"}).with_settings(
        links_enabled=False, links_expiry=Expiry(until, True)
    )
    flag = to_flagd(rules)["flags"][DEFAULT_FLAG_KEY]  # type: ignore[index]
    assert flag["targeting"]["if"][1] == "parent"
    assert flagd_mode(flagd_serving(rules), "a:b") == "parent"
    assert flagd_mode(flagd_serving(rules.at(until)), "a:b") == "link"


def test_too_many_distinct_untils_are_refused_clearly() -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    rules = RuleSet()
    for index in range(MAX_FLAGD_PHASES + 1):
        rules = rules.with_task(f"a:t{index}", "link", expiry=Expiry(start + timedelta(minutes=index), None))
    with pytest.raises(RulesError, match="flagd export expresses at most"):
        to_flagd(rules)

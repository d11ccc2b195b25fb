"""The rule model: precedence, ties, kill switch, validation messages, the document format and its schema."""

from __future__ import annotations

import copy
import json
import pickle
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # test-only, no stubs installed
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hatchet_trace_flags.contract import (
    DOCUMENT_VERSION,
    MAX_ENTRIES,
    Decision,
    Mode,
    Reason,
    RulesError,
    RuleSet,
    rules_json_schema,
    validate_action_id,
    validate_mode,
    validate_pattern,
)
from tests.support.flags.rule_strategies import as_pattern, modes, rule_sets

# ---------------------------------------------------------------------------------------------------
# Evaluation


@pytest.fixture
def fanout_rules() -> RuleSet:
    return RuleSet(
        tasks={"prod_fanout-worker:audit": "parent", "prod_billing:charge": "link"},
        patterns={
            "prod_fanout-worker:*": "link",
            "prod_*": "parent",
            "*:send-email": "link",
        },
    )


def test_exact_setting_beats_a_matching_pattern(fanout_rules: RuleSet) -> None:
    assert fanout_rules.evaluate("prod_fanout-worker:audit") == Decision(
        "parent", Reason.EXACT, "prod_fanout-worker:audit"
    )
    # and the other way round: an exact link beats the parent pattern prod_*
    assert fanout_rules.evaluate("prod_billing:charge") == Decision(
        "link", Reason.EXACT, "prod_billing:charge"
    )


def test_longest_literal_part_wins_among_patterns(fanout_rules: RuleSet) -> None:
    assert fanout_rules.evaluate("prod_fanout-worker:resize") == Decision(
        "link", Reason.PATTERN, "prod_fanout-worker:*"
    )
    assert fanout_rules.evaluate("prod_billing:refund") == Decision("parent", Reason.PATTERN, "prod_*")
    # ":send-email" (11) is longer than "prod_" (5): the suffix pattern wins over the prefix pattern
    assert fanout_rules.evaluate("prod_billing:send-email") == Decision(
        "link", Reason.PATTERN, "*:send-email"
    )
    # "prod_fanout-worker:" (19) is longer than ":send-email" (11)
    rules = fanout_rules.with_pattern("prod_fanout-worker:*", "parent")
    assert rules.evaluate("prod_fanout-worker:send-email").rule == "prod_fanout-worker:*"


def test_nothing_matching_gives_the_default(fanout_rules: RuleSet) -> None:
    assert fanout_rules.evaluate("staging_fanout-worker:resize") == Decision("parent", Reason.DEFAULT, None)
    linking = fanout_rules.with_settings(default="link")
    assert linking.evaluate("staging_fanout-worker:resize") == Decision("link", Reason.DEFAULT, None)


@pytest.mark.parametrize(
    ("prefix_mode", "suffix_mode", "expected_rule"),
    [("link", "parent", "*:ab"), ("parent", "link", "ab:*")],
)
def test_tie_between_equally_long_patterns_goes_to_parent(
    prefix_mode: Mode, suffix_mode: Mode, expected_rule: str
) -> None:
    rules = RuleSet(default="link", patterns={"ab:*": prefix_mode, "*:ab": suffix_mode})
    assert rules.evaluate("ab:ab") == Decision("parent", Reason.PATTERN, expected_rule)
    # without the tie each pattern decides alone
    assert rules.evaluate("ab:zz").mode == prefix_mode
    assert rules.evaluate("zz:ab").mode == suffix_mode


def test_equally_long_patterns_that_agree_report_the_prefix_pattern() -> None:
    rules = RuleSet(patterns={"ab:*": "link", "*:ab": "link"})
    assert rules.evaluate("ab:ab") == Decision("link", Reason.PATTERN, "ab:*")


def test_kill_switch_makes_every_decision_parent(fanout_rules: RuleSet) -> None:
    disabled = fanout_rules.with_settings(links_enabled=False, default="link")
    disabled_decision = Decision("parent", Reason.DISABLED, None)
    for action_id in ("prod_billing:charge", "prod_fanout-worker:resize", "x:send-email", "other:x"):
        assert disabled.evaluate(action_id) == disabled_decision
    # switching it back on restores the rules untouched
    enabled = disabled.with_settings(links_enabled=True)
    assert enabled.evaluate("prod_billing:charge").mode == "link"
    assert enabled.evaluate("other:x") == Decision("link", Reason.DEFAULT, None)


def test_use_links_follows_the_mode() -> None:
    assert Decision("link", Reason.PATTERN, "a*").use_links is True
    assert Decision("parent", Reason.DEFAULT, None).use_links is False


def test_reason_values_are_the_documented_strings() -> None:
    assert [str(reason) for reason in Reason] == ["exact", "pattern", "default", "disabled"]


@pytest.mark.parametrize("action_id", ["", " ", "prod_ x", "*", "a" * 10_000, "prod_\x00"])
def test_evaluate_never_raises_on_strings_that_are_no_valid_action_id(
    fanout_rules: RuleSet, action_id: str
) -> None:
    decision = fanout_rules.evaluate(action_id)
    expected_mode = "parent"  # prod_* catches the prod_ ones, the default the rest
    assert decision.mode == expected_mode


def test_repeated_evaluations_agree_and_the_memo_stays_bounded(fanout_rules: RuleSet) -> None:
    first = [fanout_rules.evaluate(f"prod_fanout-worker:t{number}") for number in range(10_000)]
    again = [fanout_rules.evaluate(f"prod_fanout-worker:t{number}") for number in range(10_000)]
    assert first == again
    assert {decision.rule for decision in first} == {"prod_fanout-worker:*"}
    assert 0 < len(fanout_rules._memo) <= 4096


# ---------------------------------------------------------------------------------------------------
# Immutability and editing


def test_rule_set_does_not_follow_later_changes_to_the_callers_dict() -> None:
    tasks: dict[str, Mode] = {"a:b": "link"}
    rules = RuleSet(tasks=tasks)
    tasks["a:b"] = "parent"
    tasks["c:d"] = "link"
    assert dict(rules.tasks) == {"a:b": "link"}
    assert rules.evaluate("a:b").mode == "link"
    assert rules.evaluate("c:d").reason is Reason.DEFAULT


def test_stored_mappings_are_read_only(fanout_rules: RuleSet) -> None:
    with pytest.raises(TypeError):
        fanout_rules.tasks["x:y"] = "link"  # type: ignore[index]
    with pytest.raises(TypeError):
        fanout_rules.patterns["x*"] = "link"  # type: ignore[index]


def test_with_task_and_with_pattern_return_new_rule_sets(fanout_rules: RuleSet) -> None:
    added = fanout_rules.with_task("new:task", "link").with_pattern("*:new", "parent")
    assert added.evaluate("new:task") == Decision("link", Reason.EXACT, "new:task")
    assert added.evaluate("x:new") == Decision("parent", Reason.PATTERN, "*:new")
    assert fanout_rules.evaluate("new:task").reason is Reason.DEFAULT
    removed = added.with_task("prod_fanout-worker:audit", None).with_pattern("prod_fanout-worker:*", None)
    assert removed.evaluate("prod_fanout-worker:audit") == Decision("parent", Reason.PATTERN, "prod_*")
    assert removed.evaluate("prod_fanout-worker:resize").rule == "prod_*"
    assert removed.with_task("not:there", None) == removed


@pytest.mark.parametrize(
    ("edit", "field", "fragment"),
    [
        (lambda rules: rules.with_task("a b", "link"), "tasks['a b']", "whitespace"),
        (lambda rules: rules.with_task("a:b", "lnk"), "tasks['a:b']", "'link' or 'parent'"),
        (lambda rules: rules.with_pattern("x*y", "link"), "patterns['x*y']", "exactly one '*'"),
        (lambda rules: rules.with_pattern("a*", "sometimes"), "patterns['a*']", "'link' or 'parent'"),
        (lambda rules: rules.with_settings(default="both"), "default", "'link' or 'parent'"),
        (lambda rules: rules.with_settings(links_enabled=0), "links_enabled", "true or false"),
    ],
)
def test_bad_edits_raise_and_change_nothing(
    fanout_rules: RuleSet, edit: Any, field: str, fragment: str
) -> None:
    before = fanout_rules.dumps()
    with pytest.raises(RulesError) as raised:
        edit(fanout_rules)
    assert raised.value.field == field
    assert fragment in str(raised.value)
    assert str(raised.value).startswith(f"{field}: ")
    assert fanout_rules.dumps() == before


# ---------------------------------------------------------------------------------------------------
# Validation of single values


def test_validators_return_valid_values_unchanged() -> None:
    assert validate_action_id("prod_fanout-worker:process-item") == "prod_fanout-worker:process-item"
    assert validate_action_id("ünïcödé:täsk-✓") == "ünïcödé:täsk-✓"
    assert validate_action_id("a" * 255) == "a" * 255
    assert validate_pattern("fanout-worker:*") == "fanout-worker:*"
    assert validate_pattern("*:send-email") == "*:send-email"
    assert validate_pattern("*" + "a" * 255) == "*" + "a" * 255
    assert validate_mode("link") == "link"
    assert validate_mode("parent") == "parent"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "action_id: an action_id must be a string, got null"),
        (7, "action_id: an action_id must be a string, got number"),
        ("", "action_id: an action_id must not be empty"),
        ("a" * 256, "action_id: an action_id must be at most 255 characters, got 256"),
        ("a:*", "action_id: an action_id must not contain '*' (patterns go in 'patterns')"),
        ("a:\tb", "action_id: an action_id must not contain whitespace (found U+0009 at position 2)"),
        ("a:\u00a0b", "action_id: an action_id must not contain whitespace (found U+00A0 at position 2)"),
        (
            "a:\x7fb",
            "action_id: an action_id must not contain control or invisible characters "
            "(found U+007F at position 2)",
        ),
        (
            "a:\u202eb",
            "action_id: an action_id must not contain control or invisible characters "
            "(found U+202E at position 2)",
        ),
    ],
)
def test_validate_action_id_messages(value: object, message: str) -> None:
    with pytest.raises(RulesError) as raised:
        validate_action_id(value)
    assert str(raised.value) == message
    assert raised.value.field == "action_id"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a*"], "a pattern must be a string, got array"),
        (
            "fanout-worker:run",
            "a pattern needs one '*' at its start or end (a single task goes in 'tasks')",
        ),
        ("*", "a bare '*' would match every task; set 'default' instead"),
        ("**", "a pattern has exactly one '*', at its start or its end"),
        ("*a*", "a pattern has exactly one '*', at its start or its end"),
        ("a*b", "a pattern has exactly one '*', at its start or its end"),
        ("*a b", "a pattern must not contain whitespace (found U+0020 at position 2)"),
        (
            "a\u200b*",
            "a pattern must not contain control or invisible characters (found U+200B at position 1)",
        ),
        ("a" * 256 + "*", "a pattern's literal part must be at most 255 characters, got 256"),
    ],
)
def test_validate_pattern_messages(value: object, message: str) -> None:
    with pytest.raises(RulesError) as raised:
        validate_pattern(value, field="where")
    assert str(raised.value) == f"where: {message}"
    assert raised.value.field == "where"


@pytest.mark.parametrize("value", ["lnk", "LINK", "", None, True, 1, ["link"]])
def test_validate_mode_rejects_everything_but_the_two_modes(value: object) -> None:
    with pytest.raises(RulesError) as raised:
        validate_mode(value)
    assert str(raised.value) == "mode: mode must be 'link' or 'parent'"  # never the refused value


def test_rules_error_pickles_with_field_and_message() -> None:
    error = pickle.loads(pickle.dumps(RulesError("tasks['a:b']", "bad")))  # noqa: S301 (our own bytes)
    assert (error.field, error.message, str(error)) == ("tasks['a:b']", "bad", "tasks['a:b']: bad")
    assert isinstance(error, ValueError)


def test_astral_characters_follow_the_printable_rule() -> None:
    assert validate_action_id("emoji:🚀") == "emoji:🚀"
    with pytest.raises(RulesError, match=r"U\+E0001"):
        validate_action_id("tag:\U000e0001")


# ---------------------------------------------------------------------------------------------------
# The document format


def test_to_document_is_the_versioned_format(fanout_rules: RuleSet) -> None:
    document = fanout_rules.to_document()
    assert document == {
        "version": 1,
        "default": "parent",
        "links_enabled": True,
        "tasks": {"prod_billing:charge": "link", "prod_fanout-worker:audit": "parent"},
        "patterns": {"*:send-email": "link", "prod_*": "parent", "prod_fanout-worker:*": "link"},
    }
    assert list(document) == sorted(document)
    assert document["version"] == DOCUMENT_VERSION


def test_to_document_returns_a_fresh_dict(fanout_rules: RuleSet) -> None:
    document = fanout_rules.to_document()
    document["tasks"] = {}
    assert fanout_rules.to_document()["tasks"] != {}


def test_dumps_is_canonical_whatever_the_insertion_order() -> None:
    one = RuleSet(tasks={"b:b": "link", "a:a": "parent"}, patterns={"z*": "link", "*a": "parent"})
    other = RuleSet(patterns={"*a": "parent", "z*": "link"}, tasks={"a:a": "parent", "b:b": "link"})
    assert one.dumps() == other.dumps()
    assert one.dumps() == (
        '{"default":"parent","links_enabled":true,"patterns":{"*a":"parent","z*":"link"},'
        '"tasks":{"a:a":"parent","b:b":"link"},"version":1}'
    )
    assert one == other
    assert hash(one) == hash(other)
    assert one != one.with_task("a:a", "link")


def test_dumps_keeps_unicode_readable() -> None:
    assert '"ünï:t"' in RuleSet(tasks={"ünï:t": "link"}).dumps()


def test_round_trips_through_text_dicts_pickle_and_copies(fanout_rules: RuleSet) -> None:
    assert RuleSet.loads(fanout_rules.dumps()) == fanout_rules
    assert RuleSet.loads(fanout_rules.dumps().encode("utf-8")) == fanout_rules
    assert RuleSet.from_document(fanout_rules.to_document()) == fanout_rules
    unpickled = pickle.loads(pickle.dumps(fanout_rules))  # noqa: S301 (our own bytes)
    for clone in (unpickled, copy.deepcopy(fanout_rules)):
        assert clone == fanout_rules
        assert clone.evaluate("prod_fanout-worker:resize") == fanout_rules.evaluate(
            "prod_fanout-worker:resize"
        )


def test_minimal_document_uses_the_defaults() -> None:
    rules = RuleSet.loads('{"version": 1, "$schema": "./rules.schema.json"}')
    assert rules == RuleSet()
    assert (rules.default, rules.links_enabled, dict(rules.tasks), dict(rules.patterns)) == (
        "parent",
        True,
        {},
        {},
    )


def test_version_one_written_as_a_float_is_still_version_one() -> None:
    # JSON has one number type; the schema's "integer" accepts 1.0 too.
    assert RuleSet.loads('{"version": 1.0}') == RuleSet()


BAD_DOCUMENTS: list[tuple[object, str, str]] = [
    ([], "(document)", "must be a JSON object, got array"),
    ("rules", "(document)", "must be a JSON object, got string"),
    ({}, "version", 'missing; add "version": 1'),
    ({"version": 3}, "version", "unsupported version; this release reads versions 1 and 2"),
    ({"version": 1, "tasks": {"a:b": "link"}, "expiries": {}}, "expiries", 'needs "version": 2'),
    (
        {
            "version": 2,
            "tasks": {"a:b": "link"},
            "expiries": {"tasks": {"a:b": {"until": "2026-01-01T00:00:00", "reverts_to": None}}},
        },
        "expiries['tasks']['a:b']['until']",
        "offset",
    ),
    ({"version": "1"}, "version", "must be a number, got string"),
    ({"version": True}, "version", "must be a number, got boolean"),
    ({"version": 1, "rules": {}}, "rules", "unknown key; expected $schema, default, expiries, links_enabled"),
    ({"version": 1, "$schema": 5}, "$schema", "must be a string, got number"),
    ({"version": 1, "default": "link "}, "default", "mode must be 'link' or 'parent'"),
    ({"version": 1, "default": None}, "default", "mode must be 'link' or 'parent'"),
    ({"version": 1, "links_enabled": 1}, "links_enabled", "must be true or false, got number"),
    ({"version": 1, "links_enabled": "false"}, "links_enabled", "must be true or false, got string"),
    ({"version": 1, "tasks": ["a:b"]}, "tasks", "must be an object mapping to 'link' or 'parent', got array"),
    ({"version": 1, "patterns": None}, "patterns", "got null"),
    ({"version": 1, "tasks": {"a:b": "lnk"}}, "tasks['a:b']", "mode must be 'link' or 'parent'"),
    ({"version": 1, "tasks": {"a:b": True}}, "tasks['a:b']", "'link' or 'parent'"),
    ({"version": 1, "tasks": {"": "link"}}, "tasks['']", "must not be empty"),
    ({"version": 1, "tasks": {"fanout:*": "link"}}, "tasks['fanout:*']", "patterns go in 'patterns'"),
    ({"version": 1, "tasks": {"a\nb": "link"}}, "tasks['a\\nb']", "whitespace"),
    ({"version": 1, "patterns": {"x*y": "link"}}, "patterns['x*y']", "exactly one '*'"),
    ({"version": 1, "patterns": {"*": "link"}}, "patterns['*']", "set 'default' instead"),
    ({"version": 1, "patterns": {"fanout": "link"}}, "patterns['fanout']", "needs one '*'"),
    ({"version": 1, "patterns": {"a*": "lnk"}}, "patterns['a*']", "'link' or 'parent'"),
    ({"version": 1, "patterns": {"\u2028a*": "link"}}, "patterns['\\u2028a*']", "whitespace"),
]


@pytest.mark.parametrize(("document", "field", "fragment"), BAD_DOCUMENTS)
def test_from_document_names_the_offending_field(document: object, field: str, fragment: str) -> None:
    with pytest.raises(RulesError) as raised:
        RuleSet.from_document(document)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not valid JSON"),
        ('{"version": 1,}', "not valid JSON"),
        (b"\xff\xfe\xfd", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"version": 1, "tasks": {"a:b": "link", "a:b": "parent"}}', "duplicate key in a JSON object"),
        ('{"version": NaN}', "NaN is not JSON"),
        ('{"version": 1, "tasks": {"a:b": Infinity}}', "Infinity is not JSON"),
    ],
)
def test_loads_rejects_text_that_is_not_a_json_document(text: str | bytes, fragment: str) -> None:
    with pytest.raises(RulesError) as raised:
        RuleSet.loads(text)
    assert raised.value.field == "(document)"
    assert fragment in str(raised.value)


def _many_tasks(count: int) -> dict[str, Mode]:
    return {f"w:task-{number}": "link" for number in range(count)}


def test_entry_limit_counts_tasks_and_patterns_together() -> None:
    at_limit = RuleSet.from_document(
        {"version": 1, "tasks": _many_tasks(MAX_ENTRIES - 1), "patterns": {"w:*": "parent"}}
    )
    assert len(at_limit.tasks) + len(at_limit.patterns) == MAX_ENTRIES
    with pytest.raises(RulesError) as raised:
        RuleSet.from_document({"version": 1, "tasks": _many_tasks(MAX_ENTRIES), "patterns": {"w:*": "link"}})
    assert raised.value.field == "(document)"
    assert str(raised.value) == (
        "(document): too many entries: 10,000 tasks and 1 patterns; at most 10,000 in total are allowed"
    )
    with pytest.raises(RulesError, match="too many entries"):
        at_limit.with_task("w:one-more", "link")


def test_size_is_checked_before_the_entries() -> None:
    # An oversized document full of garbage reports its size, not its first bad entry.
    garbage = {f"bad key {number}": "lnk" for number in range(MAX_ENTRIES + 1)}
    with pytest.raises(RulesError, match="too many entries"):
        RuleSet.from_document({"version": 1, "tasks": garbage})


def test_constructor_validates_like_the_loader() -> None:
    with pytest.raises(RulesError) as raised:
        RuleSet(tasks=["a:b"])  # type: ignore[arg-type]
    assert raised.value.field == "tasks"
    with pytest.raises(RulesError) as raised:
        RuleSet(links_enabled=1)  # type: ignore[arg-type]
    assert raised.value.field == "links_enabled"
    with pytest.raises(RulesError) as raised:
        RuleSet(tasks={1: "link"})  # type: ignore[dict-item]
    assert str(raised.value) == "tasks[1]: an action_id must be a string, got number"


# ---------------------------------------------------------------------------------------------------
# The environment-variable form


def test_links_for_reads_comma_and_whitespace_separated_entries() -> None:
    rules = RuleSet.links_for(" prod_billing:charge,fanout-worker:*\n*:send-email ,, ")
    assert rules == RuleSet(
        tasks={"prod_billing:charge": "link"},
        patterns={"fanout-worker:*": "link", "*:send-email": "link"},
    )
    assert rules.evaluate("other:task") == Decision("parent", Reason.DEFAULT, None)


@pytest.mark.parametrize("spec", ["", "   ", " , ,"])
def test_links_for_an_empty_spec_links_nothing(spec: str) -> None:
    assert RuleSet.links_for(spec) == RuleSet()


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ("a:b, *", "'*'", "set 'default' instead"),
        ("a:b x*y", "'x*y'", "exactly one '*'"),
        ("a:b,\x00", "'\\x00'", "control or invisible"),
    ],
)
def test_links_for_names_the_bad_entry(spec: str, field: str, fragment: str) -> None:
    with pytest.raises(RulesError) as raised:
        RuleSet.links_for(spec)
    assert raised.value.field == field
    assert fragment in str(raised.value)


# ---------------------------------------------------------------------------------------------------
# The JSON Schema describes the same format


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded = rules_json_schema()
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture(scope="module")
def schema_validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def _references(node: object) -> list[str]:
    if isinstance(node, Mapping):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_schema_is_self_contained(schema: dict[str, Any]) -> None:
    references = _references(schema)
    assert references
    assert all(reference.startswith("#/") for reference in references)


def test_schema_examples_load(
    schema: dict[str, Any], schema_validator: jsonschema.Draft202012Validator
) -> None:
    for example in schema["examples"]:
        schema_validator.validate(example)
        RuleSet.from_document(example)


@given(rules=rule_sets())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_document_validates_against_the_schema(
    rules: RuleSet, schema_validator: jsonschema.Draft202012Validator
) -> None:
    schema_validator.validate(rules.to_document())
    schema_validator.validate(json.loads(rules.dumps()))


unicode_texts = st.text(
    st.characters(
        exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"), exclude_characters="*"
    ),
    min_size=1,
    max_size=20,
)


@given(
    tasks=st.dictionaries(unicode_texts, modes, max_size=5),
    patterns=st.dictionaries(st.builds(as_pattern, unicode_texts, st.booleans()), modes, max_size=5),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_unicode_documents_validate_against_the_schema(
    tasks: dict[str, Mode], patterns: dict[str, Mode], schema_validator: jsonschema.Draft202012Validator
) -> None:
    schema_validator.validate(RuleSet(tasks=tasks, patterns=patterns).to_document())


@pytest.mark.parametrize(("document", "field", "fragment"), BAD_DOCUMENTS)
def test_bad_documents_are_rejected_by_the_schema_too(
    document: object, field: str, fragment: str, schema_validator: jsonschema.Draft202012Validator
) -> None:
    assert not schema_validator.is_valid(document)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "tasks": {"a" * 256: "link"}},
        {"version": 1, "patterns": {"a" * 256 + "*": "link"}},
        {"version": 1, "patterns": {"*a\n": "link"}},
        {"version": 1, "tasks": {"a:b\n": "link"}},
    ],
)
def test_length_and_trailing_newline_are_rejected_by_both(
    document: dict[str, object], schema_validator: jsonschema.Draft202012Validator
) -> None:
    # A trailing newline matters: Python's `$` (used by the jsonschema package) matches before one.
    assert not schema_validator.is_valid(document)
    with pytest.raises(RulesError):
        RuleSet.from_document(document)


def _subschema_validator(schema: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})


def _code_accepts(validate: Any, text: str) -> bool:
    try:
        validate(text)
    except RulesError:
        return False
    return True


def test_schema_and_code_agree_on_every_assigned_character_of_the_basic_plane(
    schema: dict[str, Any],
) -> None:
    # The schema lists the forbidden characters explicitly (regex dialects differ on Unicode classes);
    # the code asks Python. They must agree wherever both are defined: assigned BMP code points.
    forbidden = re.compile(schema["$defs"]["action_id"]["not"]["pattern"])
    action_id = _subschema_validator(schema, "action_id")
    disagreements = []
    for code_point in range(0x10000):
        character = chr(code_point)
        category = unicodedata.category(character)
        if category == "Cs":
            continue
        schema_accepts = forbidden.search(character) is None
        code_accepts = _code_accepts(validate_action_id, character)
        if category == "Cn":
            # Unassigned: the code refuses them, the schema need not list them.
            if code_accepts:
                disagreements.append(code_point)
        elif schema_accepts != code_accepts:
            disagreements.append(code_point)
    assert disagreements == []
    # The compiled class above is what the validator uses; spot-check through jsonschema itself.
    for character, accepted in [("a", True), ("ü", True), ("\u200b", False), ("\u3000", False), ("*", False)]:
        assert action_id.is_valid(f"x{character}y") is accepted
    pattern = _subschema_validator(schema, "pattern")
    for text, accepted in [("ab*", True), ("*ab", True), ("*", False), ("a*b", False), ("*a\u200b", False)]:
        assert pattern.is_valid(text) is accepted
        assert _code_accepts(validate_pattern, text) is accepted

"""Expiries: time-boxed settings in the rule set, their version-2 document and the version-1 view."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from hatchet_trace_flags.contract import (
    DOCUMENT_VERSION,
    TIMED_DOCUMENT_VERSION,
    Expiries,
    Expiry,
    RulesError,
    RuleSet,
    format_until,
    parse_until,
)

NOW = datetime(2026, 1, 31, 14, 0, tzinfo=UTC)
SOON = NOW + timedelta(minutes=30)
LATER = NOW + timedelta(hours=1)


def _timed() -> RuleSet:
    return (
        RuleSet(tasks={"a:kept": "parent"}, patterns={"x:*": "parent"})
        .with_task("a:b", "link", expiry=Expiry(SOON, None))
        .with_pattern("x:*", "link", expiry=Expiry(LATER, "parent"))
        .with_settings(links_enabled=False, links_expiry=Expiry(SOON, True))
    )


def test_a_timed_rule_set_evaluates_its_written_values_and_reverts_at_until() -> None:
    rules = _timed()
    assert rules.tasks["a:b"] == "link"
    assert rules.evaluate("a:b").mode == "parent"  # the kill switch is off until SOON
    assert rules.next_expiry == SOON
    assert rules.at(SOON - timedelta(microseconds=1)) is rules
    reverted = rules.at(SOON)
    assert "a:b" not in reverted.tasks
    assert reverted.links_enabled is True
    assert reverted.patterns["x:*"] == "link"
    assert reverted.evaluate("x:y").mode == "link"
    assert reverted.next_expiry == LATER
    final = rules.at(LATER)
    assert final == RuleSet(tasks={"a:kept": "parent"}, patterns={"x:*": "parent"})
    assert final.next_expiry is None


def test_a_timed_rule_set_is_a_version_2_document_and_round_trips() -> None:
    rules = _timed()
    document = rules.to_document()
    assert document["version"] == TIMED_DOCUMENT_VERSION
    assert document["expiries"] == {
        "tasks": {"a:b": {"until": "2026-01-31T14:30:00Z", "reverts_to": None}},
        "patterns": {"x:*": {"until": "2026-01-31T15:00:00Z", "reverts_to": "parent"}},
        "links_enabled": {"until": "2026-01-31T14:30:00Z", "reverts_to": True},
    }
    assert RuleSet.loads(rules.dumps()) == rules
    assert pickle.loads(pickle.dumps(rules)) == rules  # noqa: S301 (our own bytes)


def test_settled_is_the_version_1_document_of_the_values_in_force() -> None:
    rules = _timed()
    before = rules.settled(NOW).to_document()
    assert before["version"] == DOCUMENT_VERSION
    assert "expiries" not in before
    assert before["tasks"] == {"a:b": "link", "a:kept": "parent"}
    after = rules.settled(SOON).to_document()
    assert after["tasks"] == {"a:kept": "parent"}
    assert after["links_enabled"] is True
    assert rules.settled(NOW).dumps() != rules.settled(SOON).dumps()


def test_a_later_write_without_expiry_cancels_the_pending_one() -> None:
    rules = _timed().with_task("a:b", "parent").with_settings(links_enabled=False)
    assert "a:b" not in rules.expiries.tasks
    assert rules.expiries.links_enabled is None
    assert rules.at(LATER).tasks["a:b"] == "parent"
    assert rules.at(LATER).links_enabled is False
    # Changing only the default leaves the kill switch's expiry alone.
    assert _timed().with_settings(default="link").expiries.links_enabled == Expiry(SOON, True)


def test_without_expiries_the_document_stays_version_1() -> None:
    assert RuleSet(tasks={"a:b": "link"}).to_document()["version"] == DOCUMENT_VERSION


def test_an_expiry_needs_the_setting_it_belongs_to() -> None:
    with pytest.raises(RulesError, match="has no mode in tasks"):
        RuleSet(expiries=Expiries(tasks={"a:b": Expiry(SOON, None)}))
    with pytest.raises(RulesError, match="reverts_to must be true or false"):
        RuleSet(expiries=Expiries(links_enabled=Expiry(SOON, "link")))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T15:00:00Z", datetime(2026, 1, 31, 15, tzinfo=UTC)),
        ("2026-01-31T16:00:00+01:00", datetime(2026, 1, 31, 15, tzinfo=UTC)),
        ("2026-01-31t15:00:00.5z", datetime(2026, 1, 31, 15, 0, 0, 500_000, tzinfo=UTC)),
    ],
)
def test_parse_until_reads_rfc_3339_with_an_offset(text: str, expected: datetime) -> None:
    assert parse_until(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31T15:00:00",
        "2026-01-31",
        "2026-01-31T15Z",
        "2026-02-30T15:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "tomorrow",
        "",
        1700000000,
    ],
)
def test_parse_until_refuses_naive_or_malformed_times(text: object) -> None:
    with pytest.raises(RulesError):
        parse_until(text)


def test_format_until_writes_utc_with_z() -> None:
    assert format_until(datetime(2026, 1, 31, 16, tzinfo=UTC) - timedelta(hours=1)) == "2026-01-31T15:00:00Z"

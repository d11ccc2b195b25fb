"""What readers are served of a timed rule set: the ETag of the version-1 view changes at until, before
any revert is written; readers that announce expiries get them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.services.served_rules import reads_expiries, served_snapshot

from hatchet_trace_flags.contract import Expiry, RuleSet

NOW = datetime(2026, 1, 31, 14, tzinfo=UTC)
UNTIL = NOW + timedelta(minutes=30)


def _timed() -> RulesSnapshot:
    return RulesSnapshot.of(7, RuleSet().with_task("a:b", "link", expiry=Expiry(UNTIL, "parent")))


def test_the_version_1_view_changes_its_etag_at_until_without_a_new_revision() -> None:
    snapshot = _timed()
    before = served_snapshot(snapshot, with_expiries=False, now=NOW)
    after = served_snapshot(snapshot, with_expiries=False, now=UNTIL)
    assert before.rules.tasks == {"a:b": "link"}
    assert after.rules.tasks == {"a:b": "parent"}
    assert (before.revision, after.revision) == (7, 7)
    assert before.etag != after.etag
    assert b'"version":1' in before.body
    assert served_snapshot(snapshot, with_expiries=False, now=NOW + timedelta(minutes=1)) == before


def test_readers_that_announce_expiries_get_them_until_they_end() -> None:
    snapshot = _timed()
    assert served_snapshot(snapshot, with_expiries=True, now=NOW) is snapshot
    ended = served_snapshot(snapshot, with_expiries=True, now=UNTIL)
    assert ended.rules == RuleSet(tasks={"a:b": "parent"})
    plain = RulesSnapshot.of(3, RuleSet(tasks={"a:b": "link"}))
    assert served_snapshot(plain, with_expiries=False, now=NOW) is plain


def test_the_announcement_is_a_document_version() -> None:
    assert [reads_expiries(value) for value in (None, "1", "2", " 3 ", "two", "")] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]

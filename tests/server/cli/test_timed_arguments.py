"""``--for``/``--until`` on the command line: durations and RFC 3339 times parsed to the API's ``until``,
and every malformed value refused with a clear message and exit status 2 before anything is sent."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hatchet_trace_flags_server.cli.client import CommandError
from hatchet_trace_flags_server.cli.main import main
from hatchet_trace_flags_server.cli.timed import describe_until, parse_duration, parse_until, until_of

from tests.support.server.live import ADMIN_TOKEN, LiveServer, auth

NOW = datetime(2026, 12, 7, 14, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h", 3600),
        ("2h30m", 9000),
        ("1d", 86_400),
        ("90s", 90),
        ("1h0m5s", 3605),
        (" 45M ", 2700),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "expected a duration such as 30m"),
        ("30", "expected a duration such as 30m"),
        ("30x", "expected a duration such as 30m"),
        ("m", "expected a duration such as 30m"),
        ("30m1h", "expected a duration such as 30m"),
        ("-5m", "expected a duration such as 30m"),
        ("1.5h", "expected a duration such as 30m"),
        ("0m", "must be more than zero"),
    ],
)
def test_bad_durations_say_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07T15:00:00Z", datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),
        ("2026-12-07t15:00:00z", datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),
        ("2026-12-07T16:00:00+01:00", datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),
        ("2026-12-07 15:00:00.5Z", datetime(2026, 12, 7, 15, 0, 0, 500_000, tzinfo=UTC)),
    ],
)
def test_rfc3339_times(text: str, expected: datetime) -> None:
    assert parse_until(text, NOW) == expected


def test_a_time_of_day_is_the_next_one_on_this_machines_clock() -> None:
    local = NOW.astimezone()
    later = (local + timedelta(minutes=42)).strftime("%H:%M")
    assert parse_until(later, NOW) == (local + timedelta(minutes=42)).replace(second=0)
    earlier = (local - timedelta(minutes=42)).strftime("%H:%M")
    assert parse_until(earlier, NOW) == (local - timedelta(minutes=42)).replace(second=0) + timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-12-07T15:00:00", "has no offset: add Z for UTC"),
        ("2026-12-07", "a time of day as well as a date"),
        ("tomorrow", "expected an RFC 3339 time"),
        ("25:00", "expected an RFC 3339 time"),
        ("2026-13-07T15:00:00Z", "expected an RFC 3339 time"),
    ],
)
def test_bad_times_say_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_until(text, NOW)


def test_until_sent_is_rfc3339_with_its_offset_and_a_past_time_is_refused() -> None:
    assert until_of(argparse.Namespace(for_duration=timedelta(hours=1), until_time=None), lambda: NOW) == (
        "2026-12-07T15:18:00Z"
    )
    offset = datetime(2026, 12, 7, 16, 0, tzinfo=timezone(timedelta(hours=1)))
    assert until_of(argparse.Namespace(for_duration=None, until_time=offset), lambda: NOW) == (
        "2026-12-07T16:00:00+01:00"
    )
    assert until_of(argparse.Namespace(for_duration=None, until_time=None), lambda: NOW) is None
    with pytest.raises(CommandError, match="has passed already") as refused:
        until_of(argparse.Namespace(for_duration=None, until_time=NOW - timedelta(seconds=1)), lambda: NOW)
    assert refused.value.exit_code == 2


def test_a_timed_item_says_until_when_and_what_comes_back() -> None:
    item = {"mode": "link", "until": "2026-12-07T15:00:00Z", "reverts_to": {"mode": "parent"}}
    assert describe_until(item, NOW) == " until 15:00 UTC (in 42 min), then parent"
    assert (
        describe_until({**item, "reverts_to": None}, NOW)
        == " until 15:00 UTC (in 42 min), then not configured"
    )
    assert describe_until({"mode": "link", "until": None}, NOW) == ""
    switch = {
        "links_enabled": False,
        "until": "2026-12-08T18:00:00+00:00",
        "reverts_to": {"links_enabled": True},
    }
    assert (
        describe_until(switch, NOW) == " until 2026-12-08 18:00 UTC (in 27 h 42 min), then links_enabled true"
    )


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["tasks", "set", "a:b", "link", "--for", "30x"], "argument --for: expected a duration such as 30m"),
        (
            ["patterns", "set", "a:*", "link", "--until", "15:00:00+"],
            "argument --until: expected an RFC 3339",
        ),
        (
            ["tasks", "set", "a:b", "link", "--for", "1h", "--until", "15:00"],
            "not allowed with argument --for",
        ),
        (["settings", "set", "--links-enabled", "false", "--for", "0s"], "must be more than zero"),
    ],
)
def test_the_command_line_refuses_them_before_sending_anything(
    arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No server runs here: a command that tried to send would fail with exit status 1, not 2.
    with pytest.raises(SystemExit) as exited:
        main([*arguments, "--url", "http://127.0.0.1:9", "--token", "x" * 32])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_the_kill_switch_alone_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "settings",
            "set",
            "--default",
            "link",
            "--for",
            "1h",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "x" * 32,
        ]
    )
    assert code == 2
    assert "--for/--until time the kill switch only" in capsys.readouterr().err


# ------------------------------------------------------------------ against a real service


@pytest.fixture
def run(live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_URL", live.url)
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", ADMIN_TOKEN)

    def command(*arguments: str) -> tuple[int, str, str]:
        code = main(list(arguments))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return command


Runner = Callable[..., tuple[int, str, str]]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_timed_writes_round_trip_and_show_in_lists(run: Runner, live: LiveServer) -> None:
    code, out, err = run("tasks", "set", "prod_fanout-worker:process-item", "link", "--for", "30m")
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"prod_fanout-worker:process-item: link until \d\d:\d\d UTC \(in (29|30) min\), then not configured, "
        r"effective link \(exact\), version 1\n",
        out,
    )
    code, out, _ = run("tasks", "list")
    header, row = out.splitlines()[:2]
    assert "TIMED" in header.split()
    assert re.search(r"until \d\d:\d\d UTC \(in (29|30) min\), then not configured", row)

    later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    code, out, _ = run("patterns", "set", "prod_ingest:*", "parent", "--until", later.isoformat())
    assert code == 0
    assert "until" in out
    code, out, _ = run("patterns", "list")
    assert re.search(r"prod_ingest:\*\s+parent\s+until .* \(in (1 h 59 min|2 h)\), then not configured", out)

    code, out, _ = run("settings", "set", "--links-enabled", "false", "--for", "1h")
    assert code == 0
    assert re.search(
        r"links_enabled: false until \d\d:\d\d UTC \(in (59|60) min\), then links_enabled true", out
    )

    # Too far ahead is the service's rule: a 4xx that says so, and nothing changes.
    code, out, err = run("tasks", "set", "prod_billing:charge-card", "link", "--for", "400d")
    assert code == 1
    assert "until" in err
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as api:
        assert api.get("/api/v1/tasks/prod_billing:charge-card").status_code == 404  # never written

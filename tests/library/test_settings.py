"""WorkerSettings: one home for the library's environment variables, kept in agreement with docs and code."""

from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path

import pytest

from hatchet_trace_flags import AdminServiceProvider, FlagPredicate, WorkerSettings
from hatchet_trace_flags._settings import env_var
from tests.support import paths as support_paths

DOCS = support_paths.DOCS / "configuration.md"
_ROW = re.compile(r"^\| `(HATCHET_TRACE_FLAGS_[A-Z_]+)` \| ([^|]+) \| (.+) \|$")


def shown(default: object) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "true" if default else "false"
    assert isinstance(default, int | float)
    return f"{default:g}"


def test_the_docs_table_lists_every_variable_with_its_default_and_meaning() -> None:
    rows = {
        match[1]: (match[2].strip(), match[3].strip())
        for line in DOCS.read_text().splitlines()
        if (match := _ROW.match(line))
    }
    expected = {
        env_var(name): (shown(field.default), field.description)
        for name, field in WorkerSettings.model_fields.items()
    }
    assert rows == expected


@pytest.mark.parametrize(
    ("setting", "owner", "parameter"),
    [
        ("cache_ttl", FlagPredicate, "ttl"),
        ("first_decision_budget", FlagPredicate, "first_decision_budget"),
        ("stream", AdminServiceProvider, "stream"),
        ("poll_interval", AdminServiceProvider, "poll_interval"),
        ("timeout", AdminServiceProvider, "timeout"),
        ("startup_timeout", AdminServiceProvider, "startup_timeout"),
        ("stream_idle_timeout", AdminServiceProvider, "stream_idle_timeout"),
        ("backoff_max", AdminServiceProvider, "backoff_max"),
        ("report_tasks", AdminServiceProvider, "report_tasks"),
    ],
)
def test_defaults_agree_with_the_constructors(setting: str, owner: type, parameter: str) -> None:
    # Code users and environment users get the same behaviour when they set nothing.
    assert (
        WorkerSettings.model_fields[setting].default == inspect.signature(owner).parameters[parameter].default
    )


def test_parses_every_kind_of_value() -> None:
    settings = WorkerSettings.from_environ(
        {
            "HATCHET_TRACE_FLAGS_URL": " http://flags:8080 ",
            "HATCHET_TRACE_FLAGS_TOKEN": "s3cret-token",
            "HATCHET_TRACE_FLAGS_CACHE_TTL": "2.5",
            "HATCHET_TRACE_FLAGS_FIRST_DECISION_BUDGET": "0",
            "HATCHET_TRACE_FLAGS_STREAM": "off",
            "HATCHET_TRACE_FLAGS_REPORT_TASKS": "YES",
            "HATCHET_TRACE_FLAGS_LINKS": "   ",  # blank: unset
            "UNRELATED": "x",
        }
    )
    assert settings.url == "http://flags:8080"
    assert settings.token is not None
    assert settings.token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings)
    assert (settings.cache_ttl, settings.first_decision_budget) == (2.5, 0.0)
    assert (settings.stream, settings.report_tasks, settings.links) == (False, True, None)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "HATCHET_TRACE_FLAGS_CACHE_TTL",
            "-1",
            "HATCHET_TRACE_FLAGS_CACHE_TTL must be a positive number of seconds",
        ),
        ("HATCHET_TRACE_FLAGS_CACHE_TTL", "soon", "must be a number of seconds, got 'soon'"),
        ("HATCHET_TRACE_FLAGS_POLL_INTERVAL", "inf", "HATCHET_TRACE_FLAGS_POLL_INTERVAL must be a positive"),
        ("HATCHET_TRACE_FLAGS_FIRST_DECISION_BUDGET", "nan", "must be zero or a positive number of seconds"),
        (
            "HATCHET_TRACE_FLAGS_STREAM",
            "maybe",
            "HATCHET_TRACE_FLAGS_STREAM must be true or false, got 'maybe'",
        ),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WorkerSettings.from_environ({variable: value})


def test_a_near_miss_of_a_name_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "HATCHET_TRACE_LINKS": "fanout-worker:*",  # the short form an older doc used
        "HATCHET_TRACE_FLAGS_CACHE_TTLS": "5",
        "HATCHET_TRACE_FLAGS_DATABASE_URL": "sqlite:///flags.db",  # the admin service's: not a typo of ours
    }
    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        WorkerSettings.from_environ(environ)
        WorkerSettings.from_environ(environ)

    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert any("HATCHET_TRACE_LINKS" in w and "did you mean HATCHET_TRACE_FLAGS_LINKS" in w for w in warnings)
    assert any(
        "HATCHET_TRACE_FLAGS_CACHE_TTLS" in w and "HATCHET_TRACE_FLAGS_CACHE_TTL?" in w for w in warnings
    )


def test_the_predicate_from_the_environment_uses_the_budget_and_ttl(tmp_path: Path) -> None:
    from openfeature import api

    from hatchet_trace_flags import predicate_from_env

    environ = {
        "HATCHET_TRACE_FLAGS_LINKS": "fanout-worker:*",
        "HATCHET_TRACE_FLAGS_CACHE_TTL": "7",
        "HATCHET_TRACE_FLAGS_FIRST_DECISION_BUDGET": "0.25",
    }
    predicate = predicate_from_env(environ)
    try:
        assert predicate is not None
        assert (predicate.ttl, predicate.first_decision_budget) == (7.0, 0.25)
        assert predicate("fanout-worker:process-item") is True
    finally:
        if predicate is not None:
            predicate.close()
        api.clear_providers()


def test_the_admin_services_and_clis_own_variables_are_not_taken_for_typos(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_settings = pytest.importorskip(
        "hatchet_trace_flags_server.core.settings", reason="needs the server extra", exc_type=ImportError
    )
    Settings = server_settings.Settings

    environ = {f"HATCHET_TRACE_FLAGS_{name.upper()}": "x" for name in Settings.model_fields}
    environ |= {"HATCHET_TRACE_FLAGS_CLI_TOKEN": "x", "HATCHET_TRACE_FLAGS_TOKEN": "x"}
    with caplog.at_level(logging.WARNING, logger="hatchet_trace_flags"):
        WorkerSettings.from_environ(environ)
    assert [record.getMessage() for record in caplog.records] == []

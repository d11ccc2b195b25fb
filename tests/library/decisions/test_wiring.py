"""predicate_from_env: which provider the environment selects, bad values, bounded start-up."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import ProviderStatus

from hatchet_trace_flags import FlagPredicate, LocalProvider, RulesProvider, predicate_from_env
from hatchet_trace_flags._admin.provider import AdminServiceProvider
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN
from hatchet_trace_flags._wiring import install_provider, provider_from_env
from hatchet_trace_flags.contract import RulesError, RuleSet
from tests.support.flags.flags import our_threads
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")

NO_OP = "No-op Provider"


@pytest.fixture
def from_env() -> Iterator[Callable[[Mapping[str, str]], FlagPredicate | None]]:
    """predicate_from_env, closing whatever predicates it returned at the end of the test."""
    made: list[FlagPredicate] = []

    def build(environ: Mapping[str, str]) -> FlagPredicate | None:
        predicate = predicate_from_env(environ)
        if predicate is not None:
            made.append(predicate)
        return predicate

    yield build
    for predicate in made:
        predicate.close()


def provider_name() -> str:
    return api.get_provider_metadata(OPENFEATURE_DOMAIN).name


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.mark.parametrize(
    "environ",
    [{}, {"HATCHET_TRACE_FLAGS_LINKS": "  ", "HATCHET_TRACE_FLAGS_RULES_FILE": ""}, {"UNRELATED": "x"}],
)
def test_no_configuration_means_stock_hatchet(
    from_env: Callable[[Mapping[str, str]], FlagPredicate | None], environ: dict[str, str]
) -> None:
    assert from_env(environ) is None
    assert provider_name() == NO_OP
    assert our_threads() == []


def test_links_variable(from_env: Callable[[Mapping[str, str]], FlagPredicate | None]) -> None:
    predicate = from_env({"HATCHET_TRACE_FLAGS_LINKS": "fanout-worker:*, billing:send-email"})

    assert predicate is not None
    assert [predicate(a) for a in ("fanout-worker:a", "billing:send-email", "billing:charge")] == [
        True,
        True,
        False,
    ]
    assert provider_name() == "hatchet-trace-flags local"
    assert api.get_provider_metadata().name == NO_OP  # the application's global provider is left alone


def test_rules_file_variable_follows_edits(
    tmp_path: Path, from_env: Callable[[Mapping[str, str]], FlagPredicate | None]
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"version": 1, "patterns": {"fanout-worker:*": "link"}}))

    predicate = from_env({"HATCHET_TRACE_FLAGS_RULES_FILE": str(path)})

    assert predicate is not None
    assert predicate("fanout-worker:a") is True
    write_atomically(path, json.dumps({"version": 1, "links_enabled": False}))
    wait_until(lambda: predicate("fanout-worker:a") is False)


def test_rules_file_wins_over_links(
    tmp_path: Path,
    from_env: Callable[[Mapping[str, str]], FlagPredicate | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(RuleSet().dumps())

    predicate = from_env({"HATCHET_TRACE_FLAGS_RULES_FILE": str(path), "HATCHET_TRACE_FLAGS_LINKS": "a:*"})

    assert predicate is not None
    assert predicate("a:b") is False
    assert "HATCHET_TRACE_FLAGS_LINKS is ignored" in caplog.text


def test_missing_rules_file_starts_in_parent_mode_and_picks_it_up(
    tmp_path: Path,
    from_env: Callable[[Mapping[str, str]], FlagPredicate | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "rules.json"

    predicate = from_env({"HATCHET_TRACE_FLAGS_RULES_FILE": str(path)})

    assert predicate is not None
    assert predicate("fanout-worker:a") is False
    assert str(path) in caplog.text
    write_atomically(path, json.dumps({"version": 1, "patterns": {"fanout-worker:*": "link"}}))
    wait_until(lambda: predicate("fanout-worker:a") is True)


def test_cache_ttl_variable(from_env: Callable[[Mapping[str, str]], FlagPredicate | None]) -> None:
    predicate = from_env({"HATCHET_TRACE_FLAGS_LINKS": "a:b", "HATCHET_TRACE_FLAGS_CACHE_TTL": " 2.5 "})

    assert predicate is not None
    assert predicate.ttl == 2.5


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "10s"])
def test_bad_cache_ttl_is_refused_before_anything_is_registered(value: str) -> None:
    with pytest.raises(ValueError, match="HATCHET_TRACE_FLAGS_CACHE_TTL") as raised:
        predicate_from_env({"HATCHET_TRACE_FLAGS_LINKS": "a:b", "HATCHET_TRACE_FLAGS_CACHE_TTL": value})

    assert repr(value) in str(raised.value)
    assert provider_name() == NO_OP


def test_bad_links_entry_names_the_variable() -> None:
    with pytest.raises(RulesError, match="HATCHET_TRACE_FLAGS_LINKS"):
        predicate_from_env({"HATCHET_TRACE_FLAGS_LINKS": "a:b, *"})

    assert provider_name() == NO_OP


def test_admin_service_url_wins_over_file_and_links(tmp_path: Path) -> None:
    provider = provider_from_env(
        {
            "HATCHET_TRACE_FLAGS_URL": "http://127.0.0.1:9",
            "HATCHET_TRACE_FLAGS_TOKEN": "t0ken",
            "HATCHET_TRACE_FLAGS_SNAPSHOT_FILE": str(tmp_path / "snapshot.json"),
            "HATCHET_TRACE_FLAGS_RULES_FILE": str(tmp_path / "rules.json"),
            "HATCHET_TRACE_FLAGS_LINKS": "a:b",
        }
    )

    assert isinstance(provider, AdminServiceProvider)
    assert provider_name() == NO_OP  # built, not registered


def test_bad_admin_service_url_is_refused_before_anything_is_registered() -> None:
    with pytest.raises(ValueError, match="HATCHET_TRACE_FLAGS_URL"):
        predicate_from_env({"HATCHET_TRACE_FLAGS_URL": "ftp://flags", "HATCHET_TRACE_FLAGS_TOKEN": "t"})

    assert provider_name() == NO_OP


def test_token_without_url_is_refused() -> None:
    with pytest.raises(ValueError, match="HATCHET_TRACE_FLAGS_TOKEN"):
        predicate_from_env({"HATCHET_TRACE_FLAGS_TOKEN": "t", "HATCHET_TRACE_FLAGS_LINKS": "a:b"})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_LINKS", "fanout-worker:*")

    provider = provider_from_env()

    assert isinstance(provider, LocalProvider)
    assert provider.rules.evaluate("fanout-worker:a").use_links is True


def test_start_up_wait_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    class SlowStart(RulesProvider):
        def initialize(self, evaluation_context: EvaluationContext) -> None:
            release.wait(10)

    try:
        ready = install_provider(SlowStart(RuleSet.links_for("a:b")), timeout=0.05)
        status_while_starting = api.get_client(OPENFEATURE_DOMAIN).get_provider_status()
    finally:
        release.set()

    assert ready is False
    assert status_while_starting is ProviderStatus.NOT_READY
    assert "not ready after 0.05s" in caplog.text
    wait_until(lambda: api.get_client(OPENFEATURE_DOMAIN).get_provider_status() is ProviderStatus.READY)


def test_ready_provider_reports_ready(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags")

    assert install_provider(LocalProvider(RuleSet.links_for("a:b"))) is True
    assert caplog.records == []

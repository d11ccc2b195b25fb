"""The database away: writes answer 503 + Retry-After within ~2 s, /readyz within ~1 s, reads keep
serving the rule set from memory, and everything recovers by itself (issue 12).

PostgreSQL cases run against a private cluster that the test stops or freezes (SIGSTOP); the
SQLite case holds the database's write lock from another connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.http.app_state import state_of

from tests.support.server.live import ADMIN_TOKEN, ADMIN_TOKENS, READ_TOKENS, LiveFactory, auth
from tests.support.server.pg_cluster import PrivateCluster
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.timeout(120)]

TASK = "prod_orders:charge"
# The bounds the issue asks for, with room for a loaded two-core test machine.
WRITE_BOUND_SECONDS = 2.0 + 1.0
READY_BOUND_SECONDS = 1.0 + 0.5


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    private = PrivateCluster()
    private.start()
    yield private
    private.destroy()


def settings_for(tmp_path: Path, database_url: str | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_tokens": ADMIN_TOKENS,
        "read_tokens": READ_TOKENS,
        "log_level": "warning",
        "resync_seconds": 60.0,  # changes must arrive by NOTIFY, not by the periodic resync
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def timed(http: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def assert_unavailable_but_serving(http: httpx.Client, etag: str) -> None:
    write, took = timed(http, "PUT", f"/api/v1/tasks/{TASK}", json={"mode": "parent"})
    assert write.status_code == 503, write.text
    assert write.headers["retry-after"] == "2"
    assert write.headers["content-type"] == "application/problem+json"
    assert took < WRITE_BOUND_SECONDS, f"write answered after {took:.2f} s"
    seen, took = timed(http, "POST", "/api/v1/tasks/seen", json={"worker": "w", "action_ids": [TASK]})
    assert seen.status_code == 503
    assert took < WRITE_BOUND_SECONDS
    ready, took = timed(http, "GET", "/readyz")
    assert ready.status_code == 503
    assert took < READY_BOUND_SECONDS, f"/readyz answered after {took:.2f} s"
    # Reads of the rule set come from memory.
    snapshot, took = timed(http, "GET", "/api/v1/snapshot")
    assert snapshot.status_code == 200
    assert snapshot.headers["etag"] == etag
    unchanged = http.get("/api/v1/snapshot", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    evaluated = http.post("/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": TASK}})
    assert evaluated.status_code == 200


def wait_for_recovery(http: httpx.Client) -> None:
    def writes() -> bool:
        return http.put(f"/api/v1/tasks/{TASK}", json={"mode": "parent"}).status_code == 200

    wait_until(writes, what="writes succeed again")
    assert http.get("/readyz").status_code == 200


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_postgresql_away_answers_503_fast_and_recovers(
    cluster: PrivateCluster, live_factory: LiveFactory, tmp_path: Path, fault: str
) -> None:
    live = live_factory(settings_for(tmp_path, cluster.url))
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        assert http.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}).status_code == 200
        etag = http.get("/api/v1/snapshot").headers["etag"]
        if fault == "stopped":
            cluster.stop()
        else:
            cluster.freeze()
        try:
            assert_unavailable_but_serving(http, etag)
            assert_unavailable_but_serving(http, etag)  # and again: nothing piles up
        finally:
            if fault == "stopped":
                cluster.start()
            else:
                cluster.thaw()
        wait_for_recovery(http)


def test_the_other_replica_listens_again_soon_after_a_restart(
    cluster: PrivateCluster, live_factory: LiveFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags_server")
    first = live_factory(settings_for(tmp_path / "a", cluster.url))
    second = live_factory(settings_for(tmp_path / "b", cluster.url))
    feed = state_of(second.app).services.feed
    wait_until(feed.listening.is_set, what="the second replica listens")
    cluster.stop()
    wait_until(lambda: not feed.listening.is_set(), what="the LISTEN connection is lost")

    def failed_attempts() -> int:
        return sum("cannot LISTEN" in record.getMessage() for record in caplog.records)

    # A longer outage: the retries have backed off as far as they go.
    wait_until(lambda: failed_attempts() >= 5, what="five failed LISTEN attempts")
    cluster.start()
    back = time.monotonic()
    wait_until(feed.listening.is_set, what="the second replica listens again")
    took = time.monotonic() - back
    # Retries come at most a second apart; the rest is connecting to a cluster that has just started,
    # which a busy machine can stretch.
    assert took < 2.5, f"LISTEN came back {took:.2f} s after the database"
    with httpx.Client(base_url=first.url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        wait_for_recovery(http)
        revision = int(http.get("/api/v1/snapshot").headers["x-rules-revision"])
    wait_until(lambda: feed.snapshot.revision == revision, what="the change reaches replica two")


def test_sqlite_locked_by_another_writer_answers_503_fast(live_factory: LiveFactory, tmp_path: Path) -> None:
    live = live_factory(settings_for(tmp_path, None))
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        assert http.put(f"/api/v1/tasks/{TASK}", json={"mode": "link"}).status_code == 200
        etag = http.get("/api/v1/snapshot").headers["etag"]
        holder = sqlite3.connect(tmp_path / "data" / "flags.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            write, took = timed(http, "PUT", f"/api/v1/tasks/{TASK}", json={"mode": "parent"})
            assert write.status_code == 503, write.text
            assert write.headers["retry-after"] == "2"
            assert took < WRITE_BOUND_SECONDS
            assert http.get("/api/v1/snapshot").headers["etag"] == etag
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        wait_for_recovery(http)

"""Store identity (issue 12): each database gets a random id when it is created; snapshot and OFREP
bulk responses carry it as ``X-Rules-Store`` (200 and 304), and the service warns, with the
absolute location, whenever it creates a new, empty database."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from tests.support.server.live import READ_TOKEN, LiveFactory, SettingsFactory, auth

STORE_ID = re.compile(r"[A-Za-z0-9]{1,64}")
BULK = "/ofrep/v1/evaluate/flags"
CONTEXT = {"context": {"targetingKey": "prod_orders:charge"}}


def store_ids(url: str) -> set[str]:
    """The id on every response that carries it, 200 and 304 alike."""
    with httpx.Client(base_url=url, headers=auth(READ_TOKEN), timeout=10) as http:
        snapshot = http.get("/api/v1/snapshot")
        unchanged = http.get("/api/v1/snapshot", headers={"If-None-Match": snapshot.headers["etag"]})
        bulk = http.post(BULK, json=CONTEXT)
        bulk_unchanged = http.post(BULK, json=CONTEXT, headers={"If-None-Match": bulk.headers["etag"]})
    assert [snapshot.status_code, unchanged.status_code, bulk.status_code, bulk_unchanged.status_code] == [
        200,
        304,
        200,
        304,
    ]
    ids = {response.headers["x-rules-store"] for response in (snapshot, unchanged, bulk, bulk_unchanged)}
    assert all(STORE_ID.fullmatch(value) for value in ids), ids
    return ids


def creation_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "new, empty rule store" in record.getMessage()
    ]


def test_a_new_database_gets_an_id_that_stays_and_a_warning_once(
    live_factory: LiveFactory, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    caplog.set_level(logging.WARNING, logger="hatchet_trace_flags_server")
    settings = make_settings()
    first = live_factory(settings)
    (store_id,) = store_ids(first.url)
    warnings = creation_warnings(caplog)
    assert len(warnings) == 1
    assert store_id in warnings[0]
    if backend == "sqlite":
        assert str(settings.sqlite_path.resolve()) in warnings[0]
    else:
        assert "127.0.0.1" in warnings[0]
        assert "password" not in warnings[0]
    first.stop()
    # The same database again (a restart, or the other replica): the same id, no warning.
    second = live_factory(settings)
    assert store_ids(second.url) == {store_id}
    assert len(creation_warnings(caplog)) == 1


def test_another_database_has_another_id(
    live_factory: LiveFactory, make_settings: SettingsFactory, tmp_path: object
) -> None:
    first = live_factory(make_settings())
    other = live_factory(make_settings(data_dir=tmp_path / "elsewhere", database_url=None))  # type: ignore[operator]
    assert store_ids(first.url) != store_ids(other.url)

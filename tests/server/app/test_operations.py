"""Health, readiness, metrics, and the migrations matching the tables the code uses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hatchet_trace_flags_server import Settings
from hatchet_trace_flags_server.store.database import Database
from hatchet_trace_flags_server.store.schema import DIALECT_OBJECTS, SEARCH_TABLE, metadata

from tests.support.server.live import LiveServer, SettingsFactory

pytestmark = pytest.mark.timeout(60)


async def test_readyz_reports_a_schema_that_is_not_at_head(
    live: LiveServer, make_settings: SettingsFactory
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ok"
        database = Database(make_settings().sqlalchemy_url())
        try:
            async with database.engine.begin() as connection:
                await connection.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
            broken = await http.get("/readyz")
            assert broken.status_code == 503
            assert "schema at older" in broken.json()["detail"]
            assert (await http.get("/healthz")).status_code == 200
        finally:
            await database.dispose()


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.put("/api/v1/tasks/a:b", json={"mode": "link"})
    await client.put("/api/v1/tasks/c:d", json={"mode": "link"})
    await client.post(
        "/ofrep/v1/evaluate/flags/hatchet.use-links-instead-of-parent",
        json={"context": {"targetingKey": "a:b"}},
    )
    text = (await client.get("/metrics")).text
    route = "/api/v1/tasks/{action_id:path}"
    assert f'requests_total{{method="PUT",route="{route}",status="200"}} 2.0' in text
    assert "a:b" not in text.replace("targetingKey", "")
    assert "hatchet_trace_flags_rules_revision 2.0" in text
    assert 'hatchet_trace_flags_rules_entries{kind="tasks"} 2.0' in text
    assert 'hatchet_trace_flags_changes_total{kind="task"} 2.0' in text
    assert 'hatchet_trace_flags_ofrep_evaluations_total{reason="exact",variant="link"} 1.0' in text


def _not_dialect_only(
    item: object, name: str | None, kind: str, reflected: bool, compare_to: object | None
) -> bool:
    """Leaves out what migration 0006 creates on one backend only, outside the metadata (the FTS5
    table with its shadow tables, the pg_trgm and text_pattern_ops indexes); the tests in
    test_task_search_objects.py check those exist."""
    if name is None or not reflected:
        return True
    dialect_only = {object_name for names in DIALECT_OBJECTS.values() for object_name in names}
    return name not in dialect_only and not name.startswith(f"{SEARCH_TABLE}_")


def test_migrations_create_exactly_the_tables_the_code_uses(make_settings: SettingsFactory) -> None:
    async def check() -> list[object]:
        database = Database(make_settings().sqlalchemy_url())
        try:
            await database.migrate()
            await database.migrate()  # idempotent: a second replica starting finds nothing to do
            async with database.engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"include_object": _not_dialect_only}),
                        metadata,
                    )
                )
        finally:
            await database.dispose()

    assert asyncio.run(check()) == []


@pytest.mark.slow
def test_replicas_migrating_at_once_do_not_race(make_settings: SettingsFactory) -> None:
    """Three processes start on an empty database at the same moment; all succeed."""
    url = make_settings().sqlalchemy_url().render_as_string(hide_password=False)
    script = (
        "import asyncio, sys\n"
        "from sqlalchemy.engine import make_url\n"
        "from hatchet_trace_flags_server.store.database import Database\n"
        "async def main():\n"
        "    database = Database(make_url(sys.argv[1]))\n"
        "    await database.migrate()\n"
        "    problem = await database.readiness_problem()\n"
        "    await database.dispose()\n"
        "    assert problem is None, problem\n"
        "asyncio.run(main())\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE) for _ in range(3)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors.decode()


def test_libpq_style_query_parameters_work(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"{postgres_url}?sslmode=disable&application_name=hatchet-trace-flags",
        data_dir=tmp_path,
    )

    async def check() -> str | None:
        database = Database(settings.sqlalchemy_url())
        try:
            await database.migrate()
            return await database.readiness_problem()
        finally:
            await database.dispose()

    assert asyncio.run(check()) is None

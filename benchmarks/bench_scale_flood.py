"""The flood of issue 11, replayed: one worker's read token posts new action_ids (1,000 per report,
as fast as 8 connections go) for 20 s at a service with default limits. Afterwards the discovered
tasks must be bounded (cap and rate limit) and the database small; during it ``/healthz`` p99
must stay <= 50 ms. Before the limits the same flood grew the SQLite file from 7.6 MB to 920 MB.
On SQLite, then on PostgreSQL (``HATCHET_TRACE_FLAGS_TEST_POSTGRES_URL`` or the local default;
skipped when unreachable), where concurrent reports of new tasks take the cap's lock (issue 23).

Run: ``python -m benchmarks scale_flood``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from benchmarks.scale_support import READ_HEADERS, RawClient, percentile, rss_mb, start_server, stop_server

POSTGRES_ADMIN_URL = os.environ.get(
    "HATCHET_TRACE_FLAGS_TEST_POSTGRES_URL", f"postgresql://{getpass.getuser()}@127.0.0.1:5432/test"
)
SECONDS = 20.0
CONNECTIONS = 8
HEALTHZ_TARGET_MS = 50.0


async def _flood_loop(url: str, stop_at: float, statuses: dict[int, int]) -> None:
    client = RawClient(url)
    prefix = secrets.token_hex(4)
    sent = 0
    try:
        while time.perf_counter() < stop_at:
            ids = [f"flood_{prefix}:task-{sent + index}" for index in range(1000)]
            sent += 1000
            body = json.dumps({"worker": "flood", "action_ids": ids}).encode()
            status, _, _ = await client.request("POST", "/api/v1/tasks/seen", READ_HEADERS, body)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        await client.close()


async def _flood(url: str, seconds: float) -> dict[int, int]:
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_flood_loop(url, stop_at, statuses) for _ in range(CONNECTIONS)))
    return statuses


async def _probe_during_flood(url: str) -> tuple[list[float], dict[int, int]]:
    flood = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_scale_flood",
        "--flood",
        url,
        str(SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )
    probe = RawClient(url)
    latencies: list[float] = []
    await asyncio.sleep(0.5)
    try:
        while flood.returncode is None:
            status, seconds, _ = await probe.request("GET", "/healthz", {})
            assert status == 200
            latencies.append(seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flood.wait(), 0.01)
    finally:
        await probe.close()
    output = await flood.stdout.read() if flood.stdout else b"{}"
    return latencies, {int(key): value for key, value in json.loads(output).items()}


def _file_mb(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.glob("flags.db*")) / 1e6


def _sqlite() -> None:
    with tempfile.TemporaryDirectory(prefix="htf-flood-") as directory:
        data = Path(directory) / "data"
        process, url = start_server({"HATCHET_TRACE_FLAGS_DATA_DIR": str(data)}, Path(directory) / "log")
        try:
            before = _file_mb(data)
            latencies, statuses = asyncio.run(_probe_during_flood(url))
            _, peak = rss_mb(process.pid)
        finally:
            stop_server(process)
        with sqlite3.connect(data / "flags.db") as connection:
            rows = connection.execute("SELECT count(*) FROM seen_tasks").fetchone()[0]
        after = _file_mb(data)
    _report("SQLite file (with WAL)", rows, before, after, latencies, statuses, peak)


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _postgres_size(url: str) -> tuple[int, float]:
    """Discovered tasks, and the database's size in MB."""
    connection = await asyncpg.connect(url, timeout=5)
    try:
        rows = await connection.fetchval("SELECT count(*) FROM seen_tasks")
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    return int(rows), size / 1e6


def _postgres() -> None:
    name = f"htf_flood_{os.getpid()}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        print(f"(PostgreSQL skipped: not reachable: {type(error).__name__})")
        return
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory(prefix="htf-flood-") as directory:
            process, service = start_server(
                {"HATCHET_TRACE_FLAGS_DATABASE_URL": url}, Path(directory) / "log"
            )
            try:
                _, before = asyncio.run(_postgres_size(url))
                latencies, statuses = asyncio.run(_probe_during_flood(service))
                _, peak = rss_mb(process.pid)
            finally:
                stop_server(process)
        rows, after = asyncio.run(_postgres_size(url))
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _report("PostgreSQL database", rows, before, after, latencies, statuses, peak)


def _report(
    storage: str,
    rows: int,
    before: float,
    after: float,
    latencies: list[float],
    statuses: dict[int, int],
    peak: float,
) -> None:
    p99 = percentile(latencies, 0.99) * 1000
    print(
        f"{storage.split()[0]}: answers {', '.join(f'{n:,} x HTTP {s}' for s, n in sorted(statuses.items()))}"
    )
    print(f"  discovered tasks kept: {rows:,} (defaults: cap 100,000; 1,000/s per token, burst 10,000)")
    print(f"  {storage}: {before:.1f} MB before, {after:.1f} MB after")
    print(
        f"  /healthz during the flood: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {p99:.1f} ms "
        f"({len(latencies)} probes); target p99 <= {HEALTHZ_TARGET_MS:g} ms: "
        f"{'ok' if p99 <= HEALTHZ_TARGET_MS else 'MISSED'}"
    )
    print(f"  service peak RSS: {peak:.0f} MB")


def main() -> None:
    print(f"flood: {SECONDS:g} s, {CONNECTIONS} connections, one read token, 1,000 new action_ids per report")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    _sqlite()
    _postgres()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flood"]:
        print(json.dumps(asyncio.run(_flood(sys.argv[2], float(sys.argv[3])))))
    else:
        main()

"""2,000 workers heartbeating at one service process (SQLite, default limits): each sends its report of
itself (``POST /api/v1/workers/report``, with a few running tasks) once every ``WORKER_HEARTBEAT_SECONDS``,
at a random phase, as a fleet does. Measured: the service's CPU (user + system time of its process over
the run, as a share of one core) and ``/healthz`` p99 while they do. The workers run in a second process,
over ``CONNECTIONS`` kept-alive connections (a real fleet holds one per worker; the service's work per
report is the same).

Run: ``python -m benchmarks workers``; ``HTF_BENCH_WORKERS`` and ``HTF_BENCH_SECONDS`` make it smaller
(e.g. 200 workers for 30 s on a busy machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale_support import READ_HEADERS, RawClient, percentile, rss_mb, start_server, stop_server
from hatchet_trace_flags.contract import SEEN_PATH, WORKER_HEARTBEAT_SECONDS, WORKER_REPORT_PATH, WorkerReport

WORKERS = int(os.environ.get("HTF_BENCH_WORKERS", "2000"))
SECONDS = float(os.environ.get("HTF_BENCH_SECONDS", "90"))
CONNECTIONS = 32
TASKS = 50  # known tasks; each report names a few of them as running again
HEALTHZ_TARGET_MS = 50.0


def _report(worker: int, revision: int) -> bytes:
    running = [f"bench_wf:task-{(worker + index) % TASKS}" for index in range(3)]
    report = WorkerReport(
        worker=f"bench-worker-{worker:05d}",
        host=f"node-{worker % 50}",
        library_version="0.9.0",
        sdk_version="1.43.1",
        provider="admin-service",
        source="service",
        revision=revision,
        store=None,
        applied_at=time.time(),
        streaming=True,
        running=running,
    )
    return json.dumps(report.to_json()).encode()


async def _fleet(url: str, workers: int, seconds: float) -> dict[int, int]:
    """Every worker reports at its own phase, then every heartbeat; returns the answers' statuses."""
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    due = sorted((started + random.uniform(0, WORKER_HEARTBEAT_SECONDS), worker) for worker in range(workers))
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def schedule() -> None:
        nonlocal due
        while time.perf_counter() - started < seconds:
            now = time.perf_counter()
            while due and due[0][0] <= now:
                _, worker = due.pop(0)
                queue.put_nowait(worker)
                due.append((now + WORKER_HEARTBEAT_SECONDS, worker))
            due.sort()
            await asyncio.sleep(max(0.0, min(0.05, due[0][0] - time.perf_counter())) if due else 0.05)
        for _ in range(CONNECTIONS):
            queue.put_nowait(-1)

    async def send() -> None:
        client = RawClient(url)
        try:
            while (worker := await queue.get()) >= 0:
                body = _report(worker, 1)
                try:
                    status, _, _ = await client.request("POST", WORKER_REPORT_PATH, READ_HEADERS, body)
                except (asyncio.IncompleteReadError, ConnectionError):
                    # The service closed a connection idle past its keep-alive: a new one, as httpx does.
                    await client.close()
                    client = RawClient(url)
                    status, _, _ = await client.request("POST", WORKER_REPORT_PATH, READ_HEADERS, body)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await client.close()

    await asyncio.gather(schedule(), *(send() for _ in range(CONNECTIONS)))
    return statuses


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _probe_during_fleet(url: str, pid: int) -> tuple[list[float], dict[int, int], float]:
    seed = RawClient(url)
    tasks = [f"bench_wf:task-{index}" for index in range(TASKS)]
    body = json.dumps({"worker": "seed", "action_ids": tasks}).encode()
    assert (await seed.request("POST", SEEN_PATH, READ_HEADERS, body))[0] == 200
    await seed.close()
    cpu_before, wall_before = _cpu_seconds(pid), time.perf_counter()
    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_workers", "--fleet", url, str(WORKERS), str(SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    probe = RawClient(url)
    latencies: list[float] = []
    try:
        while fleet.returncode is None:
            status, took, _ = await probe.request("GET", "/healthz", {})
            assert status == 200
            latencies.append(took)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fleet.wait(), 0.05)
    finally:
        await probe.close()
    cpu_share = (_cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
    output = await fleet.stdout.read() if fleet.stdout else b"{}"
    return latencies, {int(key): value for key, value in json.loads(output).items()}, cpu_share


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="htf-workers-") as directory:
        data = Path(directory) / "data"
        process, url = start_server({"HATCHET_TRACE_FLAGS_DATA_DIR": str(data)}, Path(directory) / "log")
        try:
            latencies, statuses, cpu_share = asyncio.run(_probe_during_fleet(url, process.pid))
            _, peak = rss_mb(process.pid)
        finally:
            stop_server(process)
    reports = sum(statuses.values())
    p99 = percentile(latencies, 0.99) * 1000
    rate = reports / SECONDS
    print(
        f"fleet: {WORKERS:,} workers, one report each every {WORKER_HEARTBEAT_SECONDS:g} s, for {SECONDS:g} s"
    )
    print(f"reports: {rate:.1f}/s over {CONNECTIONS} connections, 3 running tasks each")
    print(f"answers: {', '.join(f'{count:,} x HTTP {status}' for status, count in sorted(statuses.items()))}")
    print(f"service CPU: {cpu_share * 100:.1f} % of one core; peak RSS {peak:.0f} MB")
    print(
        f"/healthz meanwhile: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {p99:.1f} ms "
        f"({len(latencies)} probes); target p99 <= {HEALTHZ_TARGET_MS:g} ms: "
        f"{'ok' if p99 <= HEALTHZ_TARGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fleet"]:
        print(json.dumps(asyncio.run(_fleet(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))))
    else:
        main()

"""2,000 followers on one service process: how long a change takes to reach every connected change
stream (SSE), p95 target <= 250 ms (issue 23; it was 361 ms), and what each open stream costs in service
memory, measured again after the streams close. The followers are raw connections in this process, so the
latencies include this process reading 2,000 sockets in turn. The service's CPU time per change
(from /proc) is printed too: unlike the latencies, it hardly moves when other processes share the cores.
One change before the measured ones warms the service up (its first write compiles its statements).

Run: ``python -m benchmarks scale_streams``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.scale_support import (
    ADMIN_HEADERS,
    READ_HEADERS,
    cpu_seconds,
    percentile,
    rss_mb,
    start_server,
    stop_server,
)

FOLLOWERS = 2_000
CHANGES = 10
TARGET_MS = 250.0


class Follower:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received: dict[int, float] = {}  # revision -> when its change event arrived

    @classmethod
    async def connect(cls, url: str) -> Follower:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        headers = "".join(f"{name}: {value}\r\n" for name, value in READ_HEADERS.items())
        writer.write(f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {head[:60]!r}")
        await reader.readuntil(b"\n\n")  # the greeting: subscribed
        return cls(reader, writer)

    async def follow(self) -> None:
        try:
            while True:
                chunk = await self.reader.readuntil(b"\n\n")
                if b"event: change" in chunk:
                    for line in chunk.split(b"\n"):
                        if line.startswith(b"id: "):
                            self.received[int(line[4:])] = time.perf_counter()
                        elif line.startswith(b"id:"):
                            self.received[int(line[3:])] = time.perf_counter()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return

    def close(self) -> None:
        self.writer.close()


async def _change_and_wait(http: httpx.AsyncClient, followers: list[Follower], mode: str) -> list[float]:
    """Seconds from sending the write to each follower's receipt of its event."""
    started = time.perf_counter()
    response = await http.put("/api/v1/tasks/bench:streamed", json={"mode": mode})
    revision = int(json.loads(response.text)["version"])  # one task: version == revision here
    deadline = time.perf_counter() + 10
    while any(revision not in f.received for f in followers):
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.01)
    return [f.received.get(revision, deadline) - started for f in followers]


async def _stream_clients(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("hatchet_trace_flags_event_stream_clients "):
            return float(line.split()[1])
    return 0.0


async def _connect_all(url: str) -> list[Follower]:
    followers: list[Follower] = []
    for start in range(0, FOLLOWERS, 200):  # in batches: the listen backlog is finite
        batch = range(start, min(FOLLOWERS, start + 200))
        followers += await asyncio.gather(*(Follower.connect(url) for _ in batch))
    return followers


async def _all_closed(url: str) -> None:
    deadline = time.monotonic() + 30
    while await _stream_clients(url) > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 (another process)
        await asyncio.sleep(0.1)


async def _run(url: str, pid: int) -> None:
    before, _ = rss_mb(pid)
    followers = await _connect_all(url)
    readers = [asyncio.create_task(follower.follow()) for follower in followers]
    connected, _ = rss_mb(pid)
    latencies: list[float] = []
    cpu_per_change: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as http:
        await _change_and_wait(http, followers, "parent")  # the warm-up
        for change in range(CHANGES):
            await asyncio.sleep(0.2)  # every change on its own: its CPU is the service's for it
            cpu_before = cpu_seconds(pid)
            latencies += await _change_and_wait(http, followers, "link" if change % 2 == 0 else "parent")
            cpu_per_change.append(cpu_seconds(pid) - cpu_before)
    for follower in followers:
        follower.close()
    for task in readers:
        task.cancel()
    await _all_closed(url)
    closed, _ = rss_mb(pid)
    # CPython keeps freed memory for reuse rather than returning it to the system: a second round
    # of streams shows whether what the first one freed is reused (RSS stays) or leaked (RSS grows).
    again = await _connect_all(url)
    reopened, peak = rss_mb(pid)
    for follower in again:
        follower.close()
    await _all_closed(url)
    p95 = percentile(latencies, 0.95) * 1000
    p50, worst = percentile(latencies, 0.5) * 1000, max(latencies) * 1000
    verdict = "ok" if p95 <= TARGET_MS else "MISSED"
    print(f"{FOLLOWERS:,} followers, {CHANGES} changes: a change reaches every stream in p50 {p50:.0f} ms,")
    print(f"  p95 {p95:.0f} ms, max {worst:.0f} ms; target p95 <= {TARGET_MS:g} ms: {verdict}")
    print(
        f"  service CPU per change: {sum(cpu_per_change) / len(cpu_per_change) * 1000:.0f} ms "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"service RSS: {before:.0f} MB idle, {connected:.0f} MB with {FOLLOWERS:,} streams")
    print(
        f"  ({(connected - before) * 1024 / FOLLOWERS:.1f} KB per stream), {closed:.0f} MB after they closed,"
    )
    print(f"  {reopened:.0f} MB with {FOLLOWERS:,} new streams (peak {peak:.0f} MB);")
    print(f"  open streams after closing: {await _stream_clients(url):.0f}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="htf-streams-") as directory:
        process, url = start_server(
            {"HATCHET_TRACE_FLAGS_DATA_DIR": str(Path(directory) / "data")}, Path(directory) / "log"
        )
        try:
            asyncio.run(_run(url, process.pid))
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()

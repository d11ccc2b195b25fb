"""What the scale benchmarks share: a real ``hatchet-trace-flags serve`` process, a raw keep-alive
HTTP/1.1 client (so the client's own cost stays far below what is measured), percentiles, RSS.

``python -m benchmarks.scale_support --lists URL SECONDS CONNECTIONS`` is the load process that
keeps CONNECTIONS task lists running against URL (separate from the process that measures)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ADMIN = "bench-admin-token-0123456789abcdef"
READ = "bench-read-token-0123456789abcdef"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
READ_HEADERS = {"Authorization": f"Bearer {READ}"}

# The list queries the API offers, each measured: every sort, both filters, paging both ways.
LIST_QUERIES: dict[str, dict[str, object]] = {
    "name": {},
    "name desc": {"order": "desc"},
    "name after (keyset)": {"after": "ns7_wf207:task-51207"},
    "offset 5000": {"offset": 5000},
    "configured": {"configured": "true"},
    "discovered only": {"configured": "false"},
    "mode parent": {"mode": "parent"},
    "mode link": {"mode": "link"},
    "mode link seen desc": {"mode": "link", "sort": "seen", "order": "desc"},
    "sort mode": {"sort": "mode"},
    "sort mode desc": {"sort": "mode", "order": "desc"},
    "sort seen desc": {"sort": "seen", "order": "desc"},
    "sort changed desc": {"sort": "changed", "order": "desc"},
    "search common": {"q": "wf42:"},
    "search rare": {"q": "task-99999"},
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc: unlike a latency or a rate, it hardly
    moves when other processes share the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HATCHET_TRACE_FLAGS_")}
    environment.update(
        {
            "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": f"bench:{ADMIN}",
            "HATCHET_TRACE_FLAGS_READ_TOKENS": f"worker:{READ}",
            "HATCHET_TRACE_FLAGS_LOG_LEVEL": "warning",
            "HATCHET_TRACE_FLAGS_PORT": str(port),
            **env,
        }
    )
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hatchet_trace_flags_server", "serve"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not become ready")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RawClient:
    """One keep-alive connection; ``request`` returns (status, seconds, body)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._host, self._port = host, int(port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.last_etag: str | None = None  # the ETag header of the last response that had one

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, float, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT"):
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        started = time.perf_counter()
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                closing = True
            elif name.lower() == b"etag":
                self.last_etag = value.strip().decode()
        content = await self._reader.readexactly(length) if length else b""
        elapsed = time.perf_counter() - started
        if closing:
            await self.close()
        return int(head[9:12]), elapsed, content

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def list_path(params: dict[str, object]) -> str:
    return f"/api/v1/tasks?{urlencode(params)}" if params else "/api/v1/tasks"


async def _list_loop(url: str, stop_at: float, queries: itertools.cycle[dict[str, object]]) -> int:
    client = RawClient(url)
    done = 0
    try:
        while time.perf_counter() < stop_at:
            status, _, _ = await client.request("GET", list_path(next(queries)), ADMIN_HEADERS)
            if status != 200:
                raise RuntimeError(f"list answered {status}")
            done += 1
    finally:
        await client.close()
    return done


async def _lists(url: str, seconds: float, connections: int) -> int:
    stop_at = time.perf_counter() + seconds
    names = ("name", "sort seen desc", "mode parent", "mode link", "sort mode")
    queries = itertools.cycle(LIST_QUERIES[name] for name in names)
    counts = await asyncio.gather(*(_list_loop(url, stop_at, queries) for _ in range(connections)))
    return sum(counts)


if __name__ == "__main__" and sys.argv[1:2] == ["--lists"]:
    total = asyncio.run(_lists(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    print(total)

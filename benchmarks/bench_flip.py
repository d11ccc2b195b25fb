"""Flip-to-effect latency through the admin service, and HTTP requests on the task path.

A real ``hatchet-trace-flags serve`` process (SQLite) runs on 127.0.0.1. In this process, an
``AdminServiceProvider`` is registered on OpenFeature and a ``FlagPredicate`` reads it, as in a worker.
One task is flipped 100 times through the API (``PUT /api/v1/tasks/{action_id}``); a flip's latency runs
from just before the PUT is sent to the first time the predicate, called every 0.5 ms on this thread (the
"task path"), returns the new value. Measured twice in the same run:

- with the change stream (target: p95 <= 250 ms);
- with polling alone (``stream=False``, ``poll_interval`` 0.25 s, jitter 10 %; target: p95 <= the
  interval plus its jitter, plus a fetch).

Every HTTP request the provider sends goes through a counting transport that records its kind and the
thread that sent it: requests sent from the task path must be zero. The calls to the predicate are
counted too, as are the cache misses among them that reached the provider (the predicate drops its cache
on each change event, so the first call after a flip evaluates).

Run: ``python -m benchmarks.bench_flip`` (or ``python -m benchmarks flip``).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from openfeature import api

from benchmarks.scale_support import ADMIN, READ, start_server, stop_server
from hatchet_trace_flags import AdminServiceProvider, FlagPredicate
from hatchet_trace_flags._wiring import install_provider

ACTION_ID = "bench_fanout-worker:process-item"
FLIPS = 100
POLL_INTERVAL = 0.25
JITTER = 0.1
CHECK_EVERY = 0.0005
GIVE_UP_AFTER = 5.0


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the provider's requests by (path, sending thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.counts[(request.url.path.rsplit("/", 1)[-1], threading.current_thread().name)] += 1
        return await super().handle_async_request(request)

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.counts)


class CountingProvider(AdminServiceProvider):
    """Counts evaluations that reached the provider (the predicate's cache misses)."""

    evaluations = 0

    def resolve_boolean_details(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingProvider.evaluations += 1
        return super().resolve_boolean_details(*args, **kwargs)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _measure(url: str, snapshot_file: Path, *, stream: bool) -> None:
    transport = CountingTransport()
    provider = CountingProvider(
        url,
        READ,
        stream=stream,
        poll_interval=POLL_INTERVAL,
        resync_interval=60.0,
        jitter=JITTER,
        snapshot_file=snapshot_file,
        report_tasks=False,
        transport=transport,
    )
    if not install_provider(provider, timeout=10):
        raise RuntimeError(f"the provider did not get ready: {provider.last_error}")
    predicate = FlagPredicate(ttl=3600)  # only a change event refreshes a decision
    task_thread = threading.current_thread().name
    latencies: list[float] = []
    calls = 0
    try:
        if stream:
            deadline = time.monotonic() + 10
            while not provider.streaming and time.monotonic() < deadline:
                time.sleep(0.01)
        requests_before = transport.snapshot()
        evaluations_before = CountingProvider.evaluations
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10) as admin:
            for flip in range(FLIPS):
                wanted = flip % 2 == 0  # True: link
                calls += 1
                if predicate(ACTION_ID) is wanted:
                    raise RuntimeError(f"flip {flip}: the predicate already says {wanted}")
                if not stream:
                    # A flip lands at a random point of the poll cycle, as in real life (right after
                    # the previous flip's effect, it would always land just after a poll: the worst case).
                    time.sleep(random.uniform(0, POLL_INTERVAL))
                started = time.perf_counter()
                mode = "link" if wanted else "parent"
                admin.put(f"/api/v1/tasks/{ACTION_ID}", json={"mode": mode}).raise_for_status()
                while True:
                    calls += 1
                    if predicate(ACTION_ID) is wanted:
                        break
                    if time.perf_counter() - started > GIVE_UP_AFTER:
                        raise RuntimeError(f"flip {flip} did not take effect within {GIVE_UP_AFTER} s")
                    time.sleep(CHECK_EVERY)
                latencies.append(time.perf_counter() - started)
        requests = transport.snapshot() - requests_before
        evaluations = CountingProvider.evaluations - evaluations_before
    finally:
        predicate.close()
        api.clear_providers()

    p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
    title = "with the change stream" if stream else f"polling alone (every {POLL_INTERVAL} s ±{JITTER:.0%})"
    target = 0.250 if stream else POLL_INTERVAL * (1 + JITTER) + 0.05
    print(f"\n{title}: {FLIPS} flips")
    print(
        f"  flip-to-effect: p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
        f"max {max(latencies) * 1000:7.1f} ms   (target p95 <= {target * 1000:.0f} ms: "
        f"{'met' if p95 <= target else 'MISSED'})"
    )
    by_kind = Counter[str]()
    on_task_path = 0
    for (kind, thread), count in requests.items():
        by_kind[kind] += count
        if thread == task_thread:
            on_task_path += count
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items())) or "none"
    print(f"  provider requests during the flips: {kinds}")
    print(
        f"  predicate calls on the task path: {calls}, of which evaluated by the provider: {evaluations}; "
        f"HTTP requests sent from the task path: {on_task_path}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-flip-") as directory:
        root = Path(directory)
        process, url = start_server(
            {"HATCHET_TRACE_FLAGS_DATA_DIR": str(root / "data")}, root / "service.log"
        )
        try:
            _measure(url, root / "stream-snapshot.json", stream=True)
            _measure(url, root / "poll-snapshot.json", stream=False)
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()

"""`make run`'s demo, used the way an operator would: flip the task through the API, watch the next round."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, str(EXAMPLES / "live.py"), "--port", str(port)),
            *("--data-dir", str(tmp_path / "data"), "--children", "5", "--every", "0.2"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process, port
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    process.stdout.close()


def read_until(process: subprocess.Popen[str], pattern: str, within: float = 30.0) -> re.Match[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"live.py ended before printing {pattern!r}")
        if match := re.search(pattern, line):
            return match
    pytest.fail(f"live.py did not print {pattern!r} within {within} s")


def test_a_flip_in_the_service_changes_the_next_round(live: tuple[subprocess.Popen[str], int]) -> None:
    process, port = live
    token = read_until(process, r"admin token: (\S+)").group(1)
    read_until(process, r"round \d+: fanout-worker:process-item in parent mode: 1 trace\(s\)")

    response = httpx.put(
        f"http://127.0.0.1:{port}/api/v1/tasks/fanout-worker:process-item",
        json={"mode": "link", "note": "from the live demo test"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201), response.text
    read_until(process, r"in link mode: 6 trace\(s\).*5 child traces with \[1\] link")

    # The worker reports the tasks it runs, so the dashboard lists the spawner too, with nothing configured.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listing = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}
        )
        seen = {item["action_id"]: item for item in listing.json()["items"]}
        if "fanout-parent:spawn" in seen:
            assert seen["fanout-parent:spawn"]["last_worker"] == "examples/live.py"
            return
        time.sleep(0.2)
    pytest.fail("the worker's task report never reached the service")

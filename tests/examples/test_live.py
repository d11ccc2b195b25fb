"""`make run`'s demo, used the way an operator would: flip the task through the API or the CLI it prints,
watch the next round; and stopped the ways a process gets stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.paths import EXAMPLES
from tests.support.server.processes import IGNORING_SIGINT
from tests.support.waiting import wait_until

sys.path.insert(0, str(EXAMPLES))  # live.py imports its sibling fanout.py, as when run as a script
import live

pytestmark = pytest.mark.timeout(120)


class Demo:
    """``examples/live.py`` running in its own process, its output read line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []

    def read_until(self, pattern: str, within: float = 30.0) -> re.Match[str]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                pytest.fail(f"live.py ended before printing {pattern!r}; it printed:\n{''.join(self.lines)}")
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"live.py did not print {pattern!r} within {within} s")

    def url(self) -> str:
        return self.read_until(r"Dashboard: (http://127\.0\.0\.1:\d+)/").group(1)

    def service_pid(self) -> int:
        """The `serve` child (the demo's only child process)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    started: list[subprocess.Popen[str]] = []

    def start(*arguments: str, sigint_ignored: bool = False) -> Demo:
        ignoring = IGNORING_SIGINT if sigint_ignored else []
        process = subprocess.Popen(
            [
                *ignoring,
                *(sys.executable, str(EXAMPLES / "live.py")),
                *(
                    "--data-dir",
                    str(tmp_path / "data"),
                    "--children",
                    "5",
                    "--spread",
                    "0.2",
                    "--every",
                    "0.2",
                ),
                *arguments,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        started.append(process)
        return Demo(process)

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.stdout is not None
        process.stdout.close()


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited; only its reaper (init) has not collected it yet


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2.0)
    except httpx.ConnectError:
        return True
    return False


def test_a_flip_in_the_service_changes_the_next_round(start_demo: Callable[..., Demo]) -> None:
    demo = start_demo("--port", "0")
    url = demo.url()
    token = re.search(r"admin token: (\S+)", demo.lines[-1]).group(1)  # type: ignore[union-attr]
    demo.read_until(r"round \d+: fanout-worker:process-item in parent mode: 1 trace\(s\)")

    response = httpx.put(
        f"{url}/api/v1/tasks/fanout-worker:process-item",
        json={"mode": "link", "note": "from the live demo test"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201), response.text
    demo.read_until(r"in link mode: 6 trace\(s\).*5 child traces with \[1\] link")

    # The worker reports the tasks it runs, so the dashboard lists the spawner too, with nothing configured.
    def listed() -> dict[str, dict[str, object]]:
        listing = httpx.get(f"{url}/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        return {item["action_id"]: item for item in listing.json()["items"]}

    wait_until(lambda: "fanout-parent:spawn" in listed(), what="the worker's task report reaches the service")
    assert listed()["fanout-parent:spawn"]["last_worker"] == "examples/live.py"


def test_the_fan_out_gets_its_link_recommendation_within_a_few_rounds(
    start_demo: Callable[..., Demo],
) -> None:
    demo = start_demo("--port", "0", "--children", "20", "--spread", "1")
    url = demo.url()
    advice = demo.read_until(r"^  insight for fanout-worker:process-item: (link recommended: .*)$", within=60)
    rounds = [line for line in demo.lines if line.startswith("round ")]
    assert 3 <= len(rounds) <= 6, rounds  # three spawning runs make a pattern; reports go every second
    assert re.fullmatch(
        "link recommended: \N{MULTIPLICATION SIGN}"
        r"20 children per run, started up to 1\.\d s after a \d+ ms spawner",
        advice.group(1),
    )
    demo.read_until(rf"^  see {re.escape(url)}/insights \(one click applies it\)")
    assert sum("insight for" in line for line in demo.lines) == 1


def test_the_printed_cli_lines_flip_the_task(start_demo: Callable[..., Demo], tmp_path: Path) -> None:
    """A newcomer copies the demo's CLI lines into another shell, as printed, and nothing else."""
    demo = start_demo("--port", "0")
    demo.url()
    export = demo.read_until(r"^  export HATCHET_TRACE_FLAGS_URL=").string.strip()
    flip = demo.read_until(r"tasks set fanout-worker:process-item link$").string.strip()
    demo.read_until(r"in parent mode: 1 trace\(s\)")

    # A worker's environment in that shell must not get in the way (its token is a read token).
    environment = {**os.environ, "HATCHET_TRACE_FLAGS_TOKEN": "a-workers-read-token"}
    result = subprocess.run(
        ["bash", "-c", f"{export}\n{flip}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "fanout-worker:process-item: link" in result.stdout
    demo.read_until(r"in link mode: 6 trace\(s\)")


def test_a_taken_port_is_a_clear_failure_not_someone_elses_service(
    start_demo: Callable[..., Demo], tmp_path: Path
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        demo = start_demo("--port", str(port))
        assert demo.process.wait(timeout=30) != 0
        assert demo.process.stdout is not None
        output = demo.process.stdout.read()
    assert f"port {port} on 127.0.0.1 is in use" in output
    assert f"make run PORT={port + 1}" in output
    assert "Traceback" not in output
    assert not (tmp_path / "data" / "service.log").exists()  # it never started a service


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name
)
def test_any_stop_stops_the_service_too(start_demo: Callable[..., Demo], stop: signal.Signals) -> None:
    # Ctrl-C as a demo started with SIGINT ignored gets it (a script's background job): it still stops.
    demo = start_demo("--port", "0", sigint_ignored=stop == signal.SIGINT)
    url = demo.url()
    demo.read_until(r"round 1:")
    service = demo.service_pid()

    demo.process.send_signal(stop)
    demo.process.wait(timeout=30)
    wait_until(
        lambda: gone(service), what=f"the service (pid {service}) ends with the demo after {stop.name}"
    )
    assert refuses_connections(url)
    if stop != signal.SIGKILL:
        assert demo.process.returncode == 0


def test_a_service_it_did_not_start_is_never_taken_for_its_own(tmp_path: Path) -> None:
    """The port check can race with another process; the token only the demo knows settles it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": "someone:else-0123456789abcdefghijklmn"}
    other = subprocess.Popen(
        [sys.executable, "-m", "hatchet_trace_flags_server", "serve", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(SystemExit, match="answered by a service this demo did not start"):
            live.wait_ready(f"http://127.0.0.1:{port}", ours, "the-demos-own-token", tmp_path)
    finally:
        for process in (other, ours):
            process.terminate()
            process.wait(timeout=15)

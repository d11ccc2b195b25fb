"""Real ``hatchet-trace-flags serve`` processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.waiting import wait_until

# Runs the command after it with SIGINT ignored, as a shell script starts a background job.
IGNORING_SIGINT = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a crash or an OOM kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=30)
        return self.process.returncode


def start_server_process(
    env: dict[str, str], log: Path, *, port: int | None = None, sigint_ignored: bool = False
) -> ServerProcess:
    """``sigint_ignored``: started with SIGINT ignored, as a shell script starts a background job.
    Otherwise the process inherits what the test run was started with (ignored too, under ``&``)."""
    port = port or free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("HATCHET_TRACE_FLAGS_")
    }
    environment.update({"HATCHET_TRACE_FLAGS_LOG_LEVEL": "warning", **env})
    command = [sys.executable, "-m", "hatchet_trace_flags_server", "serve", "--port", str(port)]
    if sigint_ignored:
        command = [*IGNORING_SIGINT, *command]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, what=lambda: f"the server is ready:\n{server.output()}")
    except AssertionError:
        server.kill()
        raise
    return server

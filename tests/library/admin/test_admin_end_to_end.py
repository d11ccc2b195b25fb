"""End to end with real processes: the admin service (``hatchet-trace-flags serve``, SQLite) and a Hatchet
worker process wired by ``predicate_from_env()`` on hatchet-sdk's real worker path
(``tests/support/worker/worker_process.py``). Flips go through the service's API; what counts is the span of
the worker's next task run."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.paths import REPO
from tests.support.server.processes import ServerProcess, free_port, start_server_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ADMIN_TOKEN = "e2e-admin-secret-0123456789"
READ_TOKEN = "e2e-read-secret-0123456789"
ACTION_ID = "fanout-worker:process-item"


class WorkerProcess:
    """The worker script, driven over stdin/stdout; its log goes to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("HATCHET_TRACE_FLAGS_")}
        environment.update(env)
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.worker.worker_process"],
                cwd=REPO,
                env=environment,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=output,
                text=True,
            )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.started = self._next(60)
        assert self.started.get("ready"), self.started

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def _next(self, within: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=within)
        except queue.Empty:
            raise AssertionError(f"the worker did not answer within {within} s:\n{self.output()}") from None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self.process.stdin.flush()
        return self._next(arguments.get("within", 0) + 30)

    def run(self) -> dict[str, Any]:
        outcome = self.command("run")
        assert outcome["error"] is None, outcome
        return outcome

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.command("exit")
                self.process.wait(10)
            except (AssertionError, BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


PARENT_MODE = {"root": False, "child_of_spawner": True, "linked_to_spawner": False, "new_trace": False}
LINK_MODE = {"root": True, "child_of_spawner": False, "linked_to_spawner": True, "new_trace": True}


def span_shape(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome[key] for key in PARENT_MODE}


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.servers: list[ServerProcess] = []
        self.workers: list[WorkerProcess] = []
        self.snapshot_file = tmp_path / "worker-cache" / "snapshot.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_service(self) -> ServerProcess:
        env = {
            "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": f"alice:{ADMIN_TOKEN}",
            "HATCHET_TRACE_FLAGS_READ_TOKENS": f"workers:{READ_TOKEN}",
            "HATCHET_TRACE_FLAGS_DATA_DIR": str(self.tmp_path / "service-data"),
        }
        log = self.tmp_path / f"service-{len(self.servers)}.log"
        server = start_server_process(env, log, port=self.port)
        self.servers.append(server)
        return server

    def start_worker(self, **env: str) -> WorkerProcess:
        values = {
            "HATCHET_TRACE_FLAGS_URL": self.url,
            "HATCHET_TRACE_FLAGS_TOKEN": READ_TOKEN,
            "HATCHET_TRACE_FLAGS_SNAPSHOT_FILE": str(self.snapshot_file),
            "HATCHET_TRACE_FLAGS_STARTUP_TIMEOUT": "1",
            "HATCHET_TRACE_FLAGS_POLL_INTERVAL": "0.5",
            "HATCHET_TRACE_FLAGS_TIMEOUT": "2",
            "HATCHET_TRACE_FLAGS_BACKOFF_MAX": "0.5",
            "HATCHET_TRACE_FLAGS_WORKER_NAME": f"e2e-worker-{len(self.workers)}",
            **env,
        }
        worker = WorkerProcess(values, self.tmp_path / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def flip(self, mode: str) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            response = admin.put(f"/api/v1/tasks/{ACTION_ID}", json={"mode": mode})
            assert response.status_code == 200, response.text

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in self.servers:
            server.kill()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    running = Setup(tmp_path)
    yield running
    running.close()


def test_flips_through_the_api_change_the_next_run_and_outlive_the_service(setup: Setup) -> None:
    service = setup.start_service()
    worker = setup.start_worker()
    assert worker.started["state"] == "live"
    assert span_shape(worker.run()) == PARENT_MODE

    setup.flip("link")
    assert worker.command("wait", use_links=True, within=5)["ok"], worker.output()
    assert span_shape(worker.run()) == LINK_MODE

    setup.flip("parent")
    assert worker.command("wait", use_links=False, within=5)["ok"], worker.output()
    assert span_shape(worker.run()) == PARENT_MODE

    setup.flip("link")
    assert worker.command("wait", use_links=True, within=5)["ok"], worker.output()
    state = worker.command("state")
    assert (state["state"], state["source"], state["streaming"]) == ("live", "service", True)
    assert state["requests"]["events"] == 1  # one stream carried every flip

    # Killed mid-run (SIGKILL: no goodbye on the stream): runs go on with the last rules.
    service.kill()
    state = worker.command("wait_state", state="stale", within=10)
    assert state["state"] == "stale", worker.output()
    assert "could not be reached" in state["last_error"]
    for _ in range(3):
        assert span_shape(worker.run()) == LINK_MODE


def test_absent_at_start_the_worker_uses_its_persisted_snapshot_then_follows_again(setup: Setup) -> None:
    service = setup.start_service()
    setup.flip("link")
    first = setup.start_worker()
    assert first.started["state"] == "live"
    first.stop()
    assert setup.snapshot_file.exists()
    service.kill()

    worker = setup.start_worker()
    assert worker.started["source"] == "snapshot file", worker.started
    assert worker.started["started_in"] < 10  # bounded start-up; generous: it only guards against a hang
    assert str(setup.snapshot_file) in worker.started["last_error"]
    assert span_shape(worker.run()) == LINK_MODE

    setup.start_service()  # same port, same data
    state = worker.command("wait_state", state="live", within=15)
    assert (state["state"], state["source"]) == ("live", "service"), worker.output()
    setup.flip("parent")
    assert worker.command("wait", use_links=False, within=5)["ok"], worker.output()
    assert span_shape(worker.run()) == PARENT_MODE

"""``hatchet-trace-flags workers list`` against a live server."""

from __future__ import annotations

import json

import httpx
import pytest
from hatchet_trace_flags_server.cli.main import main

from hatchet_trace_flags.contract import WORKER_REPORT_PATH, WorkerReport
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth

pytestmark = pytest.mark.timeout(60)


def _report(worker: str, revision: int | None, *, streaming: bool = True) -> dict[str, object]:
    return WorkerReport(
        worker=worker,
        host="node-3",
        library_version="0.9.0",
        sdk_version="1.43.1",
        provider="admin-service",
        source="service" if revision is not None else "defaults",
        revision=revision,
        store=None,
        applied_at=1_765_000_000.0,
        streaming=streaming,
    ).to_json()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_workers_list_shows_each_worker_and_the_fleet_summary(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=live.url, headers=auth(ADMIN_TOKEN)) as admin:
        assert admin.put("/api/v1/tasks/cli:task", json={"mode": "link"}).status_code == 200
        revision = int(admin.get("/api/v1/snapshot").headers["x-rules-revision"])
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN)) as reader:
        assert reader.post(WORKER_REPORT_PATH, json=_report("worker-a", revision)).status_code == 200
        assert (
            reader.post(WORKER_REPORT_PATH, json=_report("worker-b", 0, streaming=False)).status_code == 200
        )
        assert reader.post("/api/v1/tasks/seen", json={"worker": "worker-old", "action_ids": ["cli:task"]})
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_URL", live.url)
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("HATCHET_TRACE_FLAGS_TOKEN", raising=False)

    assert main(["workers", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"1 of 3 workers on rev {revision}; 1 behind, last contact just now; 1 on an unknown revision"
    )
    assert lines[1].split() == [
        "WORKER", "REVISION", "STATE", "LAST", "SEEN", "SINCE", "MODE", "HOST", "LIBRARY", "HATCHET-SDK"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["worker-a"][1:3] == [str(revision), "current"]
    assert rows["worker-a"][5:] == ["stream", "node-3", "0.9.0", "1.43.1"]
    assert rows["worker-b"][1:3] == ["0", "behind"]
    assert rows["worker-b"][5] == "polling"
    assert rows["worker-old"][1:3] == ["unknown", "unknown"]

    assert main(["workers", "list", "--json", "--limit", "1"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert len(page["items"]) == 1
    assert page["summary"]["active"] == 3

    # A read token cannot list the fleet: the API's refusal, exit status 1.
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", READ_TOKEN)
    assert main(["workers", "list"]) == 1
    assert "403" in capsys.readouterr().err

"""Worker reports as a worker of this library sends them (``hatchet_trace_flags.contract.WorkerReport``)."""

from __future__ import annotations

from typing import Any

from hatchet_trace_flags.contract import WorkerReport


def worker_report(worker: str, revision: int | None, **changes: Any) -> dict[str, Any]:
    """A valid report body of ``worker`` applying ``revision``; ``changes`` replace or add fields as sent."""
    body = WorkerReport(
        worker=worker,
        host="host-1",
        library_version="0.9.0",
        sdk_version="1.43.1",
        provider="admin-service",
        source="service",
        revision=revision,
        store=None,
        applied_at=1_700_000_000.5,
        streaming=True,
    ).to_json()
    return {**body, **changes}

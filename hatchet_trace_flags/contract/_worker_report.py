"""A worker's report of itself (``POST WORKER_REPORT_PATH``): who it is and which rules it applies.

The follower of ``AdminServiceProvider`` sends one at once when it applies a new revision, and otherwise one
every ``WORKER_HEARTBEAT_SECONDS``; the service keeps the latest per worker (docs/server.md, "Workers").
The limits below are the service's: a report past any of them is refused whole (422) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "MAX_RUNNING_PER_REPORT",
    "MAX_WORKER_LABEL_LENGTH",
    "MAX_WORKER_NAME_LENGTH",
    "WORKER_SOURCES",
    "WorkerReport",
]

MAX_WORKER_NAME_LENGTH: Final = 255  # worker and host
MAX_WORKER_LABEL_LENGTH: Final = 64  # versions, provider kind, store identity
# action_ids in ``running``: already-reported tasks this worker evaluated again since its last report.
MAX_RUNNING_PER_REPORT: Final = 1000
# Where the rules a worker applies come from (AdminServiceProvider.source).
WORKER_SOURCES: Final = ("service", "snapshot file", "fallback", "defaults")


@dataclass(frozen=True, slots=True)
class WorkerReport:
    worker: str  # the name tasks are reported under (WORKER_NAME, else "<host>/<pid>")
    host: str
    library_version: str
    sdk_version: str | None  # hatchet-sdk's, when installed
    provider: str  # the kind of provider that follows the service, e.g. "admin-service"
    source: str  # one of WORKER_SOURCES
    revision: int | None  # the rules revision applied; None when not known (fallback, defaults)
    store: str | None  # the identity of the database that revision belongs to (X-Rules-Store)
    applied_at: float | None  # Unix seconds: since when this worker applies ``revision``
    streaming: bool  # following the change stream (else polling)
    running: Sequence[str] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {
            "worker": self.worker,
            "host": self.host,
            "library_version": self.library_version,
            "sdk_version": self.sdk_version,
            "provider": self.provider,
            "source": self.source,
            "revision": self.revision,
            "store": self.store,
            "applied_at": self.applied_at,
            "streaming": self.streaming,
            "running": list(self.running),
        }

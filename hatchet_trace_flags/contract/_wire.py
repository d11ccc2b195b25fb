"""What goes over the wire between a worker and the admin service: paths, headers and limits.

Both sides import these names, so a path, a header or a limit is written once. The bodies' shapes live
beside their models: the rule document in ``RuleSet.to_document`` (docs/rules.md), the fan-out summaries
in ``TaskSummary.to_json`` (docs/insight.md).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DOCUMENT_VERSION_HEADER",
    "EVENTS_PATH",
    "INSIGHTS_PATH",
    "INSIGHTS_SCHEMA",
    "MAX_INSIGHT_TASKS_PER_REPORT",
    "MAX_SEEN_PER_REPORT",
    "REVISION_HEADER",
    "SEEN_PATH",
    "SNAPSHOT_PATH",
    "STORE_HEADER",
    "WORKERS_PATH",
    "WORKER_HEARTBEAT_SECONDS",
    "WORKER_REPORT_PATH",
]

# The rule document of the current revision, with a strong ETag (If-None-Match answers 304).
SNAPSHOT_PATH: Final = "/api/v1/snapshot"
# Server-Sent Events: one ``change`` (or ``refetch``) event per new revision.
EVENTS_PATH: Final = "/api/v1/events"
# Reports of the action_ids a worker evaluated, and of its fan-out summaries.
SEEN_PATH: Final = "/api/v1/tasks/seen"
INSIGHTS_PATH: Final = "/api/v1/tasks/insights"
# A worker's report of itself: what it applies (``WorkerReport.to_json``), and its heartbeat.
WORKER_REPORT_PATH: Final = "/api/v1/workers/report"
# The fleet as operators see it (admin scope).
WORKERS_PATH: Final = "/api/v1/workers"

# The revision of the rules in an answer (snapshot, OFREP bulk, writes).
REVISION_HEADER: Final = "X-Rules-Revision"
# Sent by a worker with its snapshot polls: the highest rule-document version it reads. Without it (every
# library before expiries) the snapshot is the version-1 document with timed settings resolved to their
# value at the time of the answer, so an old worker never meets a document it would refuse.
DOCUMENT_VERSION_HEADER: Final = "X-Rules-Document-Version"
# Which database the rules come from: a worker that sees it change warns and keeps the old snapshot aside.
STORE_HEADER: Final = "X-Rules-Store"

# action_ids in one report of discovered tasks.
MAX_SEEN_PER_REPORT: Final = 1000
# Tasks in one fan-out report, and the version of its schema.
MAX_INSIGHT_TASKS_PER_REPORT: Final = 100
INSIGHTS_SCHEMA: Final = 1
# A worker reports itself at least this often (and at once when it applies a new revision); the service
# counts a worker that has not reported for three of these as gone quiet.
WORKER_HEARTBEAT_SECONDS: Final = 30.0

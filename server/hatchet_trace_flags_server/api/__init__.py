"""The JSON API, one router per resource: tasks, patterns, settings, the snapshot, export and import
(transfer), the audit log, insights, workers, the change stream, OFREP, health. Routes call the service layer,
never the store; no router imports another.
"""

from fastapi import APIRouter

from . import audit, events, health, insights, ofrep, patterns, settings, snapshot, tasks, transfer, workers

__all__ = ["API_ROUTERS"]

# In the order the app includes them. Hot routes (polls, evaluations) first: routing tries routes in order.
# A task's name ends every path it is in, and the fixed paths beside "/tasks/{action_id:path}" (seen,
# forget, insights) are POST only, which no per-task route answers: the order cannot change which route
# a name reaches (issue 27; tests/server/api/test_names_in_paths.py).
API_ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    snapshot.router,
    ofrep.router,
    events.router,
    settings.router,
    transfer.router,
    audit.router,
    insights.router,
    tasks.router,
    patterns.router,
    workers.router,
)

"""``/healthz`` (the process answers), ``/readyz`` (database and schema), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hatchet_trace_flags_server.http.dependencies import ServicesDep
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations at head",
    responses={503: {"description": "Not ready; `detail` says why"}},
)
async def readyz(services: ServicesDep) -> Response:
    problem = await services.database.readiness_problem()
    if problem is not None:
        return JSONResponse(
            {"status": "unavailable", "detail": problem},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ok", "revision": services.flags.snapshot.revision})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

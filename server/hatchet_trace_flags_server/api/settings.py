"""``/api/v1/settings``: the default mode and the links kill switch, with their ETag."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hatchet_trace_flags_server.core.bodies import ErrorOut, SettingsOut, SettingsPatch, SettingsPut
from hatchet_trace_flags_server.core.presenters import settings_out
from hatchet_trace_flags_server.core.records import SettingsRecord
from hatchet_trace_flags_server.http.auth import AdminIdentity
from hatchet_trace_flags_server.http.dependencies import AdminAuthor, ServicesDep
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/api/v1", tags=["rules"])


def _answer(record: SettingsRecord, response: Response) -> SettingsOut:
    response.headers["ETag"] = record.etag
    return settings_out(record)


_SETTINGS_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Malformed If-Match"},
    412: {"model": ErrorOut, "description": "If-Match is stale; the ETag header is the current one"},
    422: {"model": ErrorOut, "description": "Invalid mode, note or until"},
}


@router.get("/settings", summary="Default mode and links kill switch")
async def get_settings(_identity: AdminIdentity, services: ServicesDep, response: Response) -> SettingsOut:
    return _answer(await services.flags.settings(), response)


@router.put("/settings", summary="Replace the settings", responses=_SETTINGS_WRITE_RESPONSES)
async def put_settings(
    body: SettingsPut, author: AdminAuthor, services: ServicesDep, response: Response
) -> SettingsOut:
    result = await services.flags.update_settings(
        author.noting(body.note), default=body.default, links_enabled=body.links_enabled, until=body.until
    )
    return _answer(result.record, response)


@router.patch("/settings", summary="Change some settings", responses=_SETTINGS_WRITE_RESPONSES)
async def patch_settings(
    body: SettingsPatch, author: AdminAuthor, services: ServicesDep, response: Response
) -> SettingsOut:
    result = await services.flags.update_settings(
        author.noting(body.note), default=body.default, links_enabled=body.links_enabled, until=body.until
    )
    return _answer(result.record, response)

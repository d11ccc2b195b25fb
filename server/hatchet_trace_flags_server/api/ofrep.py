"""OFREP (OpenFeature Remote Evaluation Protocol) endpoints for the one boolean flag.

``POST /ofrep/v1/evaluate/flags/{key}`` with ``{"context": {"targetingKey": "<action_id>"}}`` returns
``{"key", "value": true|false, "variant": "link"|"parent", "reason", "metadata"}``. Reasons are
OFREP 0.3.0's reasons (``service/openapi.yaml`` in open-feature/protocol, which has no ``DEFAULT``): an
exact or pattern rule is ``TARGETING_MATCH``, the configured default ``STATIC`` (a value the service holds
for every context; OFREP's value-less "code default" form would hand the choice back to the worker), the
kill switch ``DISABLED``; ``metadata`` says which (``decisionReason``), the ``rule`` that matched and the
rule-set ``revision``. The bulk endpoint returns the same entry in ``{"flags": [...]}`` with an ETag
that covers both the rule set and the request context, so ``If-None-Match`` polling is safe.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import JSONResponse

from hatchet_trace_flags.contract import Reason, RulesError, validate_action_id
from hatchet_trace_flags_server.core.conditions import ConditionError, parse_entity_tags
from hatchet_trace_flags_server.core.records import RulesSnapshot
from hatchet_trace_flags_server.http.app_state import Services
from hatchet_trace_flags_server.http.auth import ReadIdentity
from hatchet_trace_flags_server.http.dependencies import ServicesDep
from hatchet_trace_flags_server.http.strict_json import StrictJSONRoute, loads_strict

__all__ = ["router"]

router = APIRouter(route_class=StrictJSONRoute, prefix="/ofrep/v1", tags=["ofrep"])

_OPENFEATURE_REASON: Final = {
    Reason.EXACT: "TARGETING_MATCH",
    Reason.PATTERN: "TARGETING_MATCH",
    Reason.DEFAULT: "STATIC",
    Reason.DISABLED: "DISABLED",
}

_REQUEST_BODY: Final = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "context": {
                        "type": "object",
                        "description": "Evaluation context; targetingKey is the task's action_id",
                        "properties": {"targetingKey": {"type": "string"}},
                    }
                },
            }
        }
    },
}
_EVALUATION_SUCCESS: Final = {
    "type": "object",
    "required": ["key", "value", "reason", "variant"],
    "properties": {
        "key": {"type": "string"},
        "value": {"type": "boolean"},
        "reason": {"type": "string", "enum": sorted(set(_OPENFEATURE_REASON.values()))},
        "variant": {"type": "string", "enum": ["link", "parent"]},
        "metadata": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    },
}
_EVALUATION_FAILURE: Final = {
    "type": "object",
    "required": ["errorCode"],
    "properties": {
        "key": {"type": "string"},
        "errorCode": {
            "type": "string",
            "enum": ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL", "FLAG_NOT_FOUND"],
        },
        "errorDetails": {"type": "string"},
    },
}


class _OFREPError(Exception):
    def __init__(self, status_code: int, code: str, details: str) -> None:
        self.status_code = status_code
        self.code = code
        self.details = details


async def _context(request: Request) -> dict[str, Any]:
    """The request's evaluation context, or an OFREP 400."""
    body = await request.body()
    if not body.strip():
        document: object = {}
    else:
        try:
            document = loads_strict(body)
        except (ValueError, RecursionError) as error:
            raise _OFREPError(400, "PARSE_ERROR", f"request body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise _OFREPError(400, "PARSE_ERROR", "request body must be a JSON object")
    context = document.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise _OFREPError(400, "INVALID_CONTEXT", "context must be a JSON object")
    return context


def _action_id(context: dict[str, Any]) -> str:
    targeting_key = context.get("targetingKey")
    if targeting_key is None or targeting_key == "":
        raise _OFREPError(400, "TARGETING_KEY_MISSING", "context.targetingKey must be the task's action_id")
    try:
        return validate_action_id(targeting_key, field="context.targetingKey")
    except RulesError as error:
        raise _OFREPError(400, "INVALID_CONTEXT", str(error)) from None


def _evaluate(services: Services, snapshot: RulesSnapshot, action_id: str) -> dict[str, Any]:
    decision = snapshot.rules.evaluate(action_id)
    metadata: dict[str, Any] = {"decisionReason": decision.reason.value, "revision": snapshot.revision}
    if decision.rule is not None:
        metadata["rule"] = decision.rule
    services.metrics.evaluations.labels(decision.mode, decision.reason.value).inc()
    return {
        "key": services.settings.flag_key,
        "value": decision.use_links,
        "reason": _OPENFEATURE_REASON[decision.reason],
        "variant": decision.mode,
        "metadata": metadata,
    }


@router.post(
    "/evaluate/flags/{key}",
    summary="OFREP: evaluate one flag",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {"content": {"application/json": {"schema": _EVALUATION_SUCCESS}}},
        400: {"content": {"application/json": {"schema": _EVALUATION_FAILURE}}},
        404: {"content": {"application/json": {"schema": _EVALUATION_FAILURE}}},
        401: {"description": "Missing or invalid token (no body)"},
        403: {"description": "Token without read scope (no body)"},
    },
    response_class=JSONResponse,
)
async def evaluate_flag(
    key: str, request: Request, _identity: ReadIdentity, services: ServicesDep
) -> Response:
    try:
        if key != services.settings.flag_key:
            raise _OFREPError(
                404, "FLAG_NOT_FOUND", f"this service serves one flag, {services.settings.flag_key!r}"
            )
        action_id = _action_id(await _context(request))
    except _OFREPError as error:
        return JSONResponse(
            {"key": key, "errorCode": error.code, "errorDetails": error.details},
            status_code=error.status_code,
        )
    return JSONResponse(_evaluate(services, services.flags.served(with_expiries=False), action_id))


@router.post(
    "/evaluate/flags",
    summary="OFREP: evaluate all flags (one) for a context",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["flags"],
                        "properties": {"flags": {"type": "array", "items": _EVALUATION_SUCCESS}},
                    }
                }
            },
            "headers": {"ETag": {"schema": {"type": "string"}}},
        },
        304: {"description": "Unchanged for this context since the ETag in If-None-Match"},
        400: {"content": {"application/json": {"schema": _EVALUATION_FAILURE}}},
        401: {"description": "Missing or invalid token (no body)"},
        403: {"description": "Token without read scope (no body)"},
    },
    response_class=JSONResponse,
)
async def evaluate_flags(
    request: Request,
    _identity: ReadIdentity,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    try:
        context = await _context(request)
        action_id = _action_id(context)
    except _OFREPError as error:
        return JSONResponse(
            {"errorCode": error.code, "errorDetails": error.details}, status_code=error.status_code
        )
    snapshot = services.flags.served(with_expiries=False)
    # The answer depends on the rule set and on the context: both go into the ETag.
    canonical_context = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{snapshot.etag}\n{canonical_context}".encode()).hexdigest()[:32]
    etag = f'"{digest}"'
    if if_none_match is not None:
        try:
            tags = parse_entity_tags(if_none_match, name="If-None-Match")
        except ConditionError as error:
            return JSONResponse({"errorCode": "GENERAL", "errorDetails": str(error)}, status_code=400)
        if tags is not None and tags.weak_match(digest):
            return Response(
                status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag, **services.store_headers}
            )
    return JSONResponse(
        {"flags": [_evaluate(services, snapshot, action_id)]},
        headers={"ETag": etag, **services.store_headers},
    )


@router.get("/configuration", summary="OFREP: provider configuration")
async def configuration(_identity: ReadIdentity) -> dict[str, Any]:
    return {
        "name": "hatchet-trace-flags",
        "capabilities": {
            "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": 1000}},
            "flagEvaluation": {"supportedTypes": ["boolean"]},
        },
    }

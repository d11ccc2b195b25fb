"""The one error format of the API: RFC 9457 problem details (``application/problem+json``).

Every error body has ``type``, ``title``, ``status`` and ``detail`` (``detail`` is what clients of
the first API version read, so it stays). Validation errors add ``errors``: one entry per problem
with a field path and a message, never the rejected input itself (it can be large, and it can be
what made the old handler fail: NaN, lone surrogates, raw bytes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
# Enough to say where and what, never enough to carry a pasted document back.
_MAX_MESSAGE_CHARS: Final = 300
_MAX_ERRORS: Final = 20

logger = logging.getLogger("hatchet_trace_flags_server")


def _title(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _clip(text: str) -> str:
    # errors="replace" turns a lone surrogate that reached a message into "?": always encodable.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def _safe(value: object) -> object:
    """Extra members may quote input (a field name, a key): make every string encodable."""
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, Mapping):
        return {_clip(str(key)): _safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_safe(item) for item in value]
    return value


def problem_body(status_code: int, detail: str, *, extra: Mapping[str, object] | None = None) -> bytes:
    document: dict[str, object] = {
        "type": "about:blank",
        "title": _title(status_code),
        "status": status_code,
        "detail": _clip(detail),
    }
    if extra:
        document.update({key: _safe(value) for key, value in extra.items()})
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def problem_response(
    status_code: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Response:
    return Response(
        problem_body(status_code, detail, extra=extra),
        status_code=status_code,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def _field_path(location: Sequence[Any]) -> str:
    """``("body", "action_ids", 3)`` -> ``action_ids[3]``; the part of the request comes first
    for query, path and header values (``query.limit``)."""
    parts = list(location)
    prefix = ""
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        prefix = f"{parts.pop(0)}."
    elif parts and parts[0] == "body":
        parts.pop(0)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{_clip(str(part))}" if path else _clip(str(part))
    return prefix + (path or "body")


def _validation_errors(raw: Sequence[Any]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for error in raw[:_MAX_ERRORS]:
        entry = error if isinstance(error, Mapping) else {}
        location = entry.get("loc", ())
        message = str(entry.get("msg", "invalid"))
        if entry.get("type") == "json_invalid":
            # FastAPI puts the character offset in the location and the reason in the context.
            location = ("body",)
            message = f"not valid JSON: {entry.get('ctx', {}).get('error', 'parse error')}"
        errors.append({"field": _field_path(location), "message": _clip(message)})
    return errors


async def _validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = _validation_errors(error.errors())
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(error.errors()) - 1} more)"
    return problem_response(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail,
        extra={"field": first["field"], "errors": errors},
    )


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    return problem_response(error.status_code, str(error.detail), headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> Response:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    # Starlette re-raises after this response and uvicorn then closes the connection: say so,
    # so that a kept-alive client does not find a dead socket on its next request.
    return problem_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "internal error; it has been logged",
        headers={"Connection": "close"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

"""Request bodies parsed as strict JSON: RFC 8259 text only.

Python's ``json`` accepts ``NaN``/``Infinity`` and lone surrogates (``"\\ud800"``); neither can be
stored, hashed into an ETag or written back out as JSON, so they are refused where the body is
parsed, as a JSON error (422 through the validation handler), before any handler sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from hatchet_trace_flags.contract import reject_constant

__all__ = ["StrictJSONRoute", "loads_strict"]


def _check_strings(value: object, path: str) -> None:
    # Iterative: a deeply nested document must not hit the recursion limit here.
    pending: list[tuple[object, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{where or 'body'}: lone surrogate in a string (not UTF-8 text)") from None
        elif isinstance(item, dict):
            for key, child in item.items():
                pending.append((key, where))
                pending.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{index}]") for index, child in enumerate(item))


def loads_strict(body: bytes | str) -> Any:
    """``json.loads`` that raises ``ValueError`` for non-finite numbers and lone surrogates."""
    document = json.loads(body, parse_constant=reject_constant)
    _check_strings(document, "")
    return document


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = loads_strict(body)
            except json.JSONDecodeError:
                raise
            except ValueError as error:
                # FastAPI turns JSONDecodeError (only) into a validation error: 422, not 400/500.
                raise json.JSONDecodeError(str(error), "", 0) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of every router: its JSON bodies go through :func:`loads_strict`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict

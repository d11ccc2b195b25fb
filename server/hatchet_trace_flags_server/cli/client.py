"""The CLI's HTTP client: where the URL and admin token come from, errors, and printing helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, get_args
from urllib.parse import quote

import httpx

from hatchet_trace_flags.contract import Mode

__all__ = [
    "DEFAULT_URL",
    "DEPRECATED_TOKEN_VARIABLE",
    "MAX_PAGE",
    "MODES",
    "TOKEN_VARIABLE",
    "URL_VARIABLE",
    "Client",
    "CommandError",
    "conditional_headers",
    "fetch_page",
    "key_path",
    "page_footer",
    "print_json",
    "table",
]

DEFAULT_URL = "http://127.0.0.1:8080"
URL_VARIABLE = "HATCHET_TRACE_FLAGS_URL"
TOKEN_VARIABLE = "HATCHET_TRACE_FLAGS_CLI_TOKEN"  # noqa: S105 (a variable name)
DEPRECATED_TOKEN_VARIABLE = "HATCHET_TRACE_FLAGS_TOKEN"  # noqa: S105 (also the workers' read token)
MAX_PAGE = 1000  # the API's largest page
MODES: Final[tuple[str, ...]] = get_args(Mode)  # what a mode argument accepts


class CommandError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def admin_token(arguments: argparse.Namespace) -> tuple[str, str]:
    """The token and where it came from (for the hint on a 403)."""
    if arguments.token:
        return arguments.token, "--token"
    if token := os.environ.get(TOKEN_VARIABLE):
        return token, TOKEN_VARIABLE
    if token := os.environ.get(DEPRECATED_TOKEN_VARIABLE):
        print(
            f"hatchet-trace-flags: note: taking the admin token from {DEPRECATED_TOKEN_VARIABLE} is "
            f"deprecated (workers read their read token from it); set {TOKEN_VARIABLE} instead",
            file=sys.stderr,
        )
        return token, DEPRECATED_TOKEN_VARIABLE
    raise CommandError(f"no token: pass --token or set {TOKEN_VARIABLE} to an admin token", exit_code=2)


class Client:
    def __init__(self, arguments: argparse.Namespace) -> None:
        url = arguments.url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
        token, self._token_source = admin_token(arguments)
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "X-Change-Source": "cli"},
            timeout=30.0,
        )
        self.as_json: bool = getattr(arguments, "json", False)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise CommandError(f"cannot reach {self._http.base_url}: {error}") from None
        if response.status_code >= 400:
            try:
                detail: Any = response.json().get("detail", response.text)
            except (ValueError, AttributeError):
                detail = response.text
            if not isinstance(detail, str):
                detail = json.dumps(detail)
            if response.status_code == 403:
                detail += (
                    f" (the token from {self._token_source} is not an admin token; the CLI needs one,"
                    f" e.g. in {TOKEN_VARIABLE})"
                )
            raise CommandError(f"{response.status_code}: {detail}")
        return response

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()


def key_path(kind: str, key: str) -> str:
    """``/api/v1/{kind}/{key}``, the key as one percent-encoded segment at the end of the path.

    Every route puts a name last (``/insights/{name}``, not ``/tasks/{name}/insights``), so a ``/``
    in it cannot reach another route. A name of dots only would be a ``.``/``..`` segment that HTTP
    clients collapse: its dots are encoded too."""
    segment = quote(key, safe=":*@")
    if key.strip(".") == "":
        segment = "%2E" * len(key)
    return f"/api/v1/{kind}/{segment}"


def conditional_headers(arguments: argparse.Namespace) -> dict[str, str]:
    if_match = getattr(arguments, "if_match", None)
    return {"If-Match": if_match} if if_match else {}


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str("-" if cell is None else cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def fetch_page(client: Client, path: str, params: dict[str, Any], every: bool) -> dict[str, Any]:
    """One page, or with ``every`` all of them (pages of the API's largest size, joined)."""
    if not every:
        page: dict[str, Any] = client.request("GET", path, params=params).json()
        return page
    params = {**params, "limit": MAX_PAGE, "offset": 0}
    items: list[Any] = []
    while True:
        page = client.request("GET", path, params=params).json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return {**page, "items": items, "limit": len(items), "offset": 0}
        params["offset"] = len(items)


def page_footer(page: dict[str, Any]) -> None:
    shown, total, offset = len(page["items"]), page["total"], page["offset"]
    if offset + shown >= total and offset == 0:
        print(f"({shown} of {total})")
    elif offset + shown < total:
        print(f"({shown} of {total}: --offset {offset + shown} for the next page, --all for every one)")
    else:
        print(f"({shown} of {total}, from --offset {offset})")

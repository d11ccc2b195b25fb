"""Query parameters shared by several routes, with bounds that keep every value storable."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

from hatchet_trace_flags_server.core.bodies import MAX_NOTE_LENGTH, check_text

__all__ = ["Limit", "Note", "Offset", "Search"]

Search = Annotated[
    str | None,
    Query(max_length=255, description="Case-insensitive substring of the name"),
    AfterValidator(lambda value: None if value is None else check_text(value)),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
Note = Annotated[
    str | None,
    Query(max_length=MAX_NOTE_LENGTH, description="Why; recorded in the audit log"),
    AfterValidator(lambda value: None if value is None else check_text(value, multiline=True)),
]

"""W3C traceparent strings in tests: parsing what a trigger wrote, building what a caller sends."""

from __future__ import annotations

import re

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_traceparent(value: object) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a valid traceparent, else ``None``."""
    if not isinstance(value, str) or (match := _TRACEPARENT.match(value)) is None:
        return None
    trace_id, span_id, flags = (int(group, 16) for group in match.groups())
    return None if trace_id == 0 or span_id == 0 else (trace_id, span_id, flags)

"""The span link a linked root carries back to the span that spawned its run."""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import Link, SpanContext

# One small attribute, so a trace viewer says why the link exists (each link attribute costs ~1 µs).
SPAWN_LINK_ATTRIBUTE: Final = "hatchet.link"
SPAWN_LINK_VALUE: Final = "spawned_by"
_SPAWN_LINK_ATTRIBUTES: Final = {SPAWN_LINK_ATTRIBUTE: SPAWN_LINK_VALUE}


def spawn_link(spawner: SpanContext) -> Link:
    return Link(spawner, _SPAWN_LINK_ATTRIBUTES)

"""The two traceparents of a run triggered from inside a linked run, and the key of ours that carries one.

Hatchet's engine reads one metadata key, ``traceparent``, and files the run in that trace; so does every
worker without this library. Inside a linked run the trigger span exists in two shapes with the same span
id: in the linked trace (what the user's backend gets) and in the engine's trace for the linked run (what the
engine gets). The trigger writes the engine's shape into ``traceparent`` and the link shape into
:data:`FAMILY_METADATA_KEY`; a worker with this library starts the run from the latter.

Hatchet copies a run's metadata keys into the runs it triggers, so a value of ours may be an ancestor's. It is
bound to ``traceparent`` the way the per-run override is: trusted only when its span id is the span id of the
``traceparent`` next to it, which only the trigger that wrote both can arrange.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "FAMILY_METADATA_KEY",
    "TRACEPARENT_METADATA_KEY",
    "in_trace",
    "own_traceparent",
    "plain_ids",
    "span_id_in",
    "trace_id_in",
]

TRACEPARENT_METADATA_KEY: Final = "traceparent"
FAMILY_METADATA_KEY: Final = "hatchet_trace_flags.traceparent"
_LENGTH: Final = 55  # "00-" + 32 hex trace id + "-" + 16 hex span id + "-" + 2 hex flags
_VERSION_00: Final = re.compile("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _well_formed(traceparent: object) -> bool:
    # One C-level match instead of a character-set test over the ids (a trigger and a linked start pay it).
    return isinstance(traceparent, str) and _VERSION_00.fullmatch(traceparent) is not None


def trace_id_in(traceparent: object) -> int | None:
    """The trace id of a well-formed version-00 traceparent (non-zero trace and span ids), else ``None``."""
    if not _well_formed(traceparent):
        return None
    assert isinstance(traceparent, str)
    trace_id = int(traceparent[3:35], 16)
    if trace_id == 0 or int(traceparent[36:52], 16) == 0:
        return None
    return trace_id


def plain_ids(traceparent: str) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a plain version-00 traceparent with non-zero ids, else ``None``.

    What the W3C propagator reads from such a value, for a tenth of its cost (it matches a more general
    pattern through ``re.search``, for other versions and surrounding blanks, and builds a ``Context``);
    anything else is left to the propagator."""
    if _VERSION_00.fullmatch(traceparent) is None:
        return None
    trace_id, span_id = int(traceparent[3:35], 16), int(traceparent[36:52], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(traceparent[53:], 16)


def span_id_in(traceparent: str) -> int:
    """The span id of a traceparent :func:`trace_id_in` accepted."""
    return int(traceparent[36:52], 16)


def in_trace(traceparent: str, trace_id: int) -> str:
    """The same span, flags and all, in another trace (span ids are the same in both shapes)."""
    return f"00-{trace_id:032x}{traceparent[35:]}"


def own_traceparent(metadata: Mapping[str, Any]) -> object:
    """The context a run starts from: our key when it was written next to this ``traceparent``, else that."""
    traceparent = metadata.get(TRACEPARENT_METADATA_KEY)
    own = metadata.get(FAMILY_METADATA_KEY)
    if (
        own is not None
        and isinstance(traceparent, str)
        and len(traceparent) == _LENGTH
        and _well_formed(own)
        and own[36:52] == traceparent[36:52]
    ):
        return own
    return traceparent

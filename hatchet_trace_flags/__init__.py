"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime."""

from hatchet_trace_flags._instrumentor import HatchetInstrumentor
from hatchet_trace_flags._links import SPAWN_LINK_ATTRIBUTE
from hatchet_trace_flags._relationship import RELATIONSHIP_METADATA_KEY, Relationship, trace_relationship
from hatchet_trace_flags._sampling import FollowSpawnerSampler

__all__ = [
    "RELATIONSHIP_METADATA_KEY",
    "SPAWN_LINK_ATTRIBUTE",
    "FollowSpawnerSampler",
    "HatchetInstrumentor",
    "Relationship",
    "trace_relationship",
]

"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime."""

from hatchet_trace_flags._instrumentor import HatchetInstrumentor
from hatchet_trace_flags._links import SPAWN_LINK_ATTRIBUTE
from hatchet_trace_flags._local_provider import LocalProvider
from hatchet_trace_flags._predicate import FlagPredicate
from hatchet_trace_flags._relationship import RELATIONSHIP_METADATA_KEY, Relationship, trace_relationship
from hatchet_trace_flags._rules_provider import RulesProvider
from hatchet_trace_flags._sampling import FollowSpawnerSampler
from hatchet_trace_flags._wiring import predicate_from_env

__all__ = [
    "RELATIONSHIP_METADATA_KEY",
    "SPAWN_LINK_ATTRIBUTE",
    "FlagPredicate",
    "FollowSpawnerSampler",
    "HatchetInstrumentor",
    "LocalProvider",
    "Relationship",
    "RulesProvider",
    "predicate_from_env",
    "trace_relationship",
]

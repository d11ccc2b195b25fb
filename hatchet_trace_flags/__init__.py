"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime."""

from hatchet_trace_flags._admin_provider import AdminServiceProvider
from hatchet_trace_flags._flagd import to_flagd
from hatchet_trace_flags._instrumentor import HatchetInstrumentor
from hatchet_trace_flags._links import SPAWN_LINK_ATTRIBUTE
from hatchet_trace_flags._local_provider import LocalProvider
from hatchet_trace_flags._predicate import FlagPredicate
from hatchet_trace_flags._relationship import RELATIONSHIP_METADATA_KEY, Relationship, trace_relationship
from hatchet_trace_flags._rules import (
    DEFAULT_FLAG_KEY,
    DOCUMENT_VERSION,
    Decision,
    Mode,
    Reason,
    RulesError,
    RuleSet,
    validate_action_id,
    validate_mode,
    validate_pattern,
)
from hatchet_trace_flags._rules_provider import RulesProvider
from hatchet_trace_flags._sampling import FollowSpawnerSampler
from hatchet_trace_flags._wiring import install_provider, predicate_from_env

__all__ = [
    "DEFAULT_FLAG_KEY",
    "DOCUMENT_VERSION",
    "RELATIONSHIP_METADATA_KEY",
    "SPAWN_LINK_ATTRIBUTE",
    "AdminServiceProvider",
    "Decision",
    "FlagPredicate",
    "FollowSpawnerSampler",
    "HatchetInstrumentor",
    "LocalProvider",
    "Mode",
    "Reason",
    "Relationship",
    "RuleSet",
    "RulesError",
    "RulesProvider",
    "install_provider",
    "predicate_from_env",
    "to_flagd",
    "trace_relationship",
    "validate_action_id",
    "validate_mode",
    "validate_pattern",
]

"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime.

Names are imported on first use (PEP 562), so ``import hatchet_trace_flags`` is cheap and the rules
(``RuleSet``, ``to_flagd``, ...) load without hatchet-sdk, gRPC or OpenTelemetry's SDK: the admin service
imports them that way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from hatchet_trace_flags._settings import WorkerSettings
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
    "WorkerSettings",
    "install_provider",
    "predicate_from_env",
    "to_flagd",
    "trace_relationship",
    "validate_action_id",
    "validate_mode",
    "validate_pattern",
]

_MODULE_OF: dict[str, str] = {
    "AdminServiceProvider": "_admin_provider",
    "to_flagd": "_flagd",
    "HatchetInstrumentor": "_instrumentor",
    "SPAWN_LINK_ATTRIBUTE": "_links",
    "LocalProvider": "_local_provider",
    "FlagPredicate": "_predicate",
    "RELATIONSHIP_METADATA_KEY": "_relationship",
    "Relationship": "_relationship",
    "trace_relationship": "_relationship",
    "DEFAULT_FLAG_KEY": "_rules",
    "DOCUMENT_VERSION": "_rules",
    "Decision": "_rules",
    "Mode": "_rules",
    "Reason": "_rules",
    "RulesError": "_rules",
    "RuleSet": "_rules",
    "validate_action_id": "_rules",
    "validate_mode": "_rules",
    "validate_pattern": "_rules",
    "RulesProvider": "_rules_provider",
    "FollowSpawnerSampler": "_sampling",
    "WorkerSettings": "_settings",
    "install_provider": "_wiring",
    "predicate_from_env": "_wiring",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

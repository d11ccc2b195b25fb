"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime.

Names are imported on first use (PEP 562), so ``import hatchet_trace_flags`` is cheap and the rules
(``RuleSet``, ``to_flagd``, ...) load without hatchet-sdk, gRPC or OpenTelemetry's SDK. The contract between
workers and the admin service (the rules, flagd export and import, fan-out summaries, wire facts) has its
own public home, :mod:`hatchet_trace_flags.contract`, which the admin service imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hatchet_trace_flags._admin.provider import AdminServiceProvider
    from hatchet_trace_flags._decisions.local_provider import LocalProvider
    from hatchet_trace_flags._decisions.predicate import FlagPredicate
    from hatchet_trace_flags._decisions.rules_provider import RulesProvider
    from hatchet_trace_flags._instrumentation.instrumentor import HatchetInstrumentor
    from hatchet_trace_flags._instrumentation.links import SPAWN_LINK_ATTRIBUTE
    from hatchet_trace_flags._instrumentation.sampling import FollowSpawnerSampler
    from hatchet_trace_flags._settings import WorkerSettings
    from hatchet_trace_flags._triggers.relationship import (
        RELATIONSHIP_METADATA_KEY,
        Relationship,
        trace_relationship,
    )
    from hatchet_trace_flags._wiring import install_provider, predicate_from_env
    from hatchet_trace_flags.contract import (
        DEFAULT_FLAG_KEY,
        DOCUMENT_VERSION,
        Decision,
        Mode,
        Reason,
        RulesError,
        RuleSet,
        to_flagd,
        validate_action_id,
        validate_mode,
        validate_pattern,
    )

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
    "AdminServiceProvider": "_admin.provider",
    "to_flagd": "contract",
    "HatchetInstrumentor": "_instrumentation.instrumentor",
    "SPAWN_LINK_ATTRIBUTE": "_instrumentation.links",
    "LocalProvider": "_decisions.local_provider",
    "FlagPredicate": "_decisions.predicate",
    "RELATIONSHIP_METADATA_KEY": "_triggers.relationship",
    "Relationship": "_triggers.relationship",
    "trace_relationship": "_triggers.relationship",
    "DEFAULT_FLAG_KEY": "contract",
    "DOCUMENT_VERSION": "contract",
    "Decision": "contract",
    "Mode": "contract",
    "Reason": "contract",
    "RulesError": "contract",
    "RuleSet": "contract",
    "validate_action_id": "contract",
    "validate_mode": "contract",
    "validate_pattern": "contract",
    "RulesProvider": "_decisions.rules_provider",
    "FollowSpawnerSampler": "_instrumentation.sampling",
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

"""Fixtures for AdminServiceProvider: the real admin service in process, a misbehaving stub, providers
(defined in ``tests.support.flags.admin_service``).
"""

from tests.support.flags.admin_service import (
    caplog_info,
    clean_openfeature,
    make_provider,
    provider_events,
    service,
    stub,
)

# pytest finds fixtures by name in this module.
__all__ = [
    "caplog_info",
    "clean_openfeature",
    "make_provider",
    "provider_events",
    "service",
    "stub",
]

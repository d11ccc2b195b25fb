"""Fixtures for the library's tests: a stand-in Hatchet engine, the real OTel SDK with in-memory exporters,
the instrumentor, the real worker path, predicates and providers (in ``tests.support.worker.fixtures``).
"""

import pytest

# Assertions in shared helpers report like the tests' own.
pytest.register_assert_rewrite("tests.support")

from tests.support.worker.fixtures import (  # noqa: E402
    app,
    clean_openfeature,
    client_config,
    clock,
    engine,
    engine_server,
    exporter,
    fanout_stats,
    hatchet,
    instrument,
    make_predicate,
    meter_provider,
    provider_with,
    reader,
    scripted,
    tracer_provider,
    worker,
)

# pytest finds fixtures by name in this module.
__all__ = [
    "app",
    "clean_openfeature",
    "client_config",
    "clock",
    "engine",
    "engine_server",
    "exporter",
    "fanout_stats",
    "hatchet",
    "instrument",
    "make_predicate",
    "meter_provider",
    "provider_with",
    "reader",
    "scripted",
    "tracer_provider",
    "worker",
]

"""Fixtures for the engine-view tests: the engine collector, our instrumentor with the engine exporter on, a
family of runs four generations deep and a worker that runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hatchet_sdk import ClientConfig, Hatchet
from opentelemetry.sdk.trace import TracerProvider

from hatchet_trace_flags import HatchetInstrumentor
from tests.support.engine.engine_collector import EngineCollector
from tests.support.engine.family_app import FamilyApp, build_family_app
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.worker import Worker

EngineInstrumentFactory = Callable[..., HatchetInstrumentor]


@pytest.fixture
def collector(engine: RecordingEngine) -> EngineCollector:
    engine.collector.clear()
    return engine.collector


@pytest.fixture
def engine_instrument(
    client_config: ClientConfig, tracer_provider: TracerProvider, collector: EngineCollector
) -> Iterator[EngineInstrumentFactory]:
    """Our instrumentor with hatchet-sdk's engine exporter on (it exports to ``collector``)."""
    instrumentors: list[HatchetInstrumentor] = []

    def factory(
        use_links_instead_of_parent: Callable[[str], bool] | None = None, **kwargs: object
    ) -> HatchetInstrumentor:
        instrumentor = HatchetInstrumentor(
            tracer_provider=kwargs.pop("tracer_provider", tracer_provider),  # type: ignore[arg-type]
            config=kwargs.pop("config", client_config),  # type: ignore[arg-type]
            use_links_instead_of_parent=use_links_instead_of_parent,
            **kwargs,  # type: ignore[arg-type]
        )
        instrumentor.instrument()
        instrumentors.append(instrumentor)
        return instrumentor

    def uninstrument_all() -> None:
        for instrumentor in instrumentors:
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()

    factory.uninstrument_all = uninstrument_all  # type: ignore[attr-defined]
    yield factory
    uninstrument_all()


@pytest.fixture
def family(hatchet: Hatchet, tracer_provider: TracerProvider) -> FamilyApp:
    return build_family_app(hatchet, tracer_provider)


@pytest.fixture
async def family_worker(
    hatchet: Hatchet, client_config: ClientConfig, family: FamilyApp
) -> AsyncIterator[Worker]:
    worker = Worker(hatchet, client_config, family)  # type: ignore[arg-type]  # any app with workflows()
    yield worker
    await worker.close()

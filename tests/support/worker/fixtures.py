from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.config import ClientTLSConfig
from openfeature import api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from hatchet_trace_flags import FlagPredicate, HatchetInstrumentor
from hatchet_trace_flags._fanout.stats import FanoutStats, summaries
from tests.support.engine.hatchet_engine import RecordingEngine, fake_token, start_engine
from tests.support.flags.flags import Clock, ScriptedProvider, our_threads
from tests.support.waiting import wait_until
from tests.support.worker.app import App, build_app
from tests.support.worker.worker import Worker


@pytest.fixture(scope="session")
def engine_server() -> Iterator[tuple[grpc.Server, RecordingEngine, str]]:
    server, engine, address = start_engine()
    yield server, engine, address
    server.stop(grace=None)


@pytest.fixture
def engine(engine_server: tuple[grpc.Server, RecordingEngine, str]) -> RecordingEngine:
    recording = engine_server[1]
    with recording.lock:
        recording.triggers.clear()
        recording.events.clear()
        recording.schedules.clear()
    return recording


@pytest.fixture(scope="session")
def client_config(engine_server: tuple[grpc.Server, RecordingEngine, str]) -> ClientConfig:
    return ClientConfig(
        token=fake_token(engine_server[2]),
        tls_config=ClientTLSConfig(strategy="none"),
        namespace="",
    )


@pytest.fixture
def hatchet(client_config: ClientConfig) -> Hatchet:
    # Per test: hatchet-sdk's asyncio gRPC channels bind to the event loop that first uses them.
    return Hatchet(config=client_config)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


ProviderFactory = Callable[[Sampler], TracerProvider]


@pytest.fixture
def provider_with(exporter: InMemorySpanExporter) -> Iterator[ProviderFactory]:
    """Builds tracer providers with a given sampler, exporting to ``exporter``; shut down afterwards."""
    providers: list[TracerProvider] = []

    def build(sampler: Sampler) -> TracerProvider:
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
        return provider

    yield build
    for provider in providers:
        provider.shutdown()


InstrumentFactory = Callable[..., HatchetInstrumentor]


@pytest.fixture
def instrument(client_config: ClientConfig, tracer_provider: TracerProvider) -> Iterator[InstrumentFactory]:
    """Instruments hatchet-sdk with our HatchetInstrumentor; always uninstruments afterwards."""
    instrumentors: list[HatchetInstrumentor] = []

    def factory(
        use_links_instead_of_parent: Callable[[str], bool] | None = None, **kwargs: object
    ) -> HatchetInstrumentor:
        instrumentor = HatchetInstrumentor(
            tracer_provider=kwargs.pop("tracer_provider", tracer_provider),
            config=kwargs.pop("config", client_config),
            enable_hatchet_otel_collector=False,
            use_links_instead_of_parent=use_links_instead_of_parent,
            **kwargs,
        )
        instrumentor.instrument()
        instrumentors.append(instrumentor)
        return instrumentor

    yield factory
    for instrumentor in instrumentors:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


@pytest.fixture
def app(hatchet: Hatchet) -> App:
    return build_app(hatchet)


@pytest.fixture
async def worker(
    app: App, hatchet: Hatchet, client_config: ClientConfig, tracer_provider: TracerProvider
) -> AsyncIterator[Worker]:
    # Built inside the test's event loop: hatchet-sdk's durable listener starts a task when constructed.
    app.seen.tracer_provider = tracer_provider
    app.seen.errors.clear()
    worker = Worker(hatchet, client_config, app)
    yield worker
    await worker.close()


# -- flag predicates ------------------------------------------------------------------------------


@pytest.fixture
def clean_openfeature() -> Iterator[None]:
    """Every test starts with no provider and must leave none of our threads behind."""
    api.clear_providers()
    before = set(our_threads())
    yield
    api.clear_providers()
    wait_until(lambda: not (set(our_threads()) - before), what=lambda: our_threads())


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    meter_provider = MeterProvider(metric_readers=[reader])
    yield meter_provider
    meter_provider.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_predicate(clock: Clock, meter_provider: MeterProvider) -> Iterator[Callable[..., FlagPredicate]]:
    """Builds predicates on the test's clock and meter provider; closes them all afterwards."""
    made: list[FlagPredicate] = []

    def make(**options: Any) -> FlagPredicate:
        options.setdefault("timer", clock)
        options.setdefault("meter_provider", meter_provider)
        predicate = FlagPredicate(**options)
        made.append(predicate)
        return predicate

    yield make
    for predicate in made:
        predicate.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider()
    yield provider
    provider.gate.set()  # release refresh threads still waiting in it


# -- fan-out measurement ------------------------------------------------------------------------------


@pytest.fixture
def fanout_stats() -> Iterator[FanoutStats]:
    """The process's fan-out summaries, empty at the start of the test and emptied after it."""
    summaries.take()
    yield summaries
    summaries.take()

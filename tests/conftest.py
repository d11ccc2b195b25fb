from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import pytest
from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.config import ClientTLSConfig
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import HatchetInstrumentor
from tests.app import App, build_app
from tests.hatchet_engine import RecordingEngine, fake_token, start_engine
from tests.worker import Worker


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

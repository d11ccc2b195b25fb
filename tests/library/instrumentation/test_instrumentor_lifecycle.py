"""Construction, instrument and uninstrument: the traps of BaseInstrumentor and hatchet-sdk's instrumentor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hatchet_sdk import ClientConfig
from hatchet_sdk.opentelemetry.instrumentor import HatchetInstrumentor as StockInstrumentor
from hatchet_sdk.opentelemetry.instrumentor import _HatchetAttributeSpanProcessor
from hatchet_sdk.worker.runner.runner import Runner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hatchet_trace_flags import HatchetInstrumentor
from hatchet_trace_flags._instrumentation.instrumentor import _TARGETS, _unwrap_once
from tests.support.worker.fixtures import InstrumentFactory, spans_named
from tests.support.worker.worker import Worker

ORIGINALS = {(owner, name): vars(owner)[name] for owner, name, _, _ in _TARGETS}


def hatchet_exporters(provider: TracerProvider) -> int:
    processors = provider._active_span_processor._span_processors
    # Ours is wrapped in the engine copy (hatchet_trace_flags._engine_view).
    inner = [getattr(processor, "engine_processor", processor) for processor in processors]
    return sum(isinstance(processor, _HatchetAttributeSpanProcessor) for processor in inner)


@pytest.fixture
def stock_cleanup() -> Iterator[None]:
    yield
    stock = vars(StockInstrumentor).get("_instance")
    if stock is not None and stock.is_instrumented_by_opentelemetry:
        stock.uninstrument()
    for owner, name, _, _ in _TARGETS:
        while vars(owner)[name] is not ORIGINALS[(owner, name)]:
            _unwrap_once(owner, name)


def test_is_its_own_singleton_and_reconstruction_updates_the_predicate(client_config: ClientConfig) -> None:
    def predicate(action_id: str) -> bool:
        return True

    first = HatchetInstrumentor(config=client_config, enable_hatchet_otel_collector=False)
    second = HatchetInstrumentor(
        config=client_config, enable_hatchet_otel_collector=False, use_links_instead_of_parent=predicate
    )

    assert first is second
    assert type(first) is HatchetInstrumentor
    assert vars(StockInstrumentor).get("_instance") is not first
    assert first.use_links_instead_of_parent is predicate


def test_constructing_twice_adds_one_hatchet_exporter(client_config: ClientConfig) -> None:
    ours, stocks = TracerProvider(), TracerProvider()
    try:
        for _ in range(3):
            HatchetInstrumentor(tracer_provider=ours, config=client_config)
            StockInstrumentor(tracer_provider=stocks, config=client_config)

        assert hatchet_exporters(ours) == 1
        assert hatchet_exporters(stocks) == 3  # the upstream trap this guards against
    finally:
        ours.shutdown()
        stocks.shutdown()


async def test_uninstrument_unwraps_everything_and_spans_stop(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrumentor = instrument(lambda action_id: True)
    await worker.run("child:work", {})
    assert len(spans_named(exporter, "hatchet.start_step_run")) == 1

    instrumentor.uninstrument()
    exporter.clear()
    await worker.run("child:work", {})

    assert [span.name for span in exporter.get_finished_spans()] == ["user.sync-work"]
    for owner, name, _, _ in _TARGETS:
        assert vars(owner)[name] is ORIGINALS[(owner, name)], f"{owner.__name__}.{name} is still wrapped"


async def test_can_instrument_again_after_uninstrument(
    instrument: InstrumentFactory, worker: Worker, exporter: InMemorySpanExporter
) -> None:
    instrument(None).uninstrument()
    instrument(None)

    await worker.run("child:work", {})

    assert len(spans_named(exporter, "hatchet.start_step_run")) == 1
    assert vars(Runner)["handle_start_step_run"].__wrapped__ is ORIGINALS[(Runner, "handle_start_step_run")]


def test_refuses_to_wrap_on_top_of_the_stock_instrumentor(
    client_config: ClientConfig, stock_cleanup: None
) -> None:
    StockInstrumentor(config=client_config, enable_hatchet_otel_collector=False).instrument()

    ours = HatchetInstrumentor(config=client_config, enable_hatchet_otel_collector=False)
    with pytest.raises(RuntimeError, match="wrap every method twice"):
        ours.instrument()
    assert not ours.is_instrumented_by_opentelemetry

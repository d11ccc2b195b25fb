"""FollowSpawnerSampler: a linked root is sampled exactly when its spawner was."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler

from hatchet_trace_flags import FollowSpawnerSampler
from tests.support.worker.fixtures import InstrumentFactory, ProviderFactory, spans_named
from tests.support.worker.traces import SPAWNER, UNSAMPLED_SPAWNER
from tests.support.worker.worker import Worker


@pytest.mark.parametrize(
    ("delegate", "traceparent", "sampled"),
    [
        (ParentBased(ALWAYS_ON), SPAWNER, True),
        (ParentBased(ALWAYS_ON), UNSAMPLED_SPAWNER, False),
        (ParentBased(ALWAYS_OFF), SPAWNER, True),
        (ParentBased(ALWAYS_OFF), UNSAMPLED_SPAWNER, False),
    ],
)
async def test_linked_root_follows_the_spawner(
    instrument: InstrumentFactory,
    worker: Worker,
    provider_with: ProviderFactory,
    exporter: InMemorySpanExporter,
    delegate: Sampler,
    traceparent: str,
    sampled: bool,
) -> None:
    instrument(lambda action_id: True, tracer_provider=provider_with(FollowSpawnerSampler(delegate)))

    await worker.run("child:work", {"traceparent": traceparent})

    assert len(spans_named(exporter, "hatchet.start_step_run")) == (1 if sampled else 0)


@pytest.mark.parametrize(
    ("delegate", "sampled"), [(ParentBased(ALWAYS_ON), True), (ParentBased(ALWAYS_OFF), False)]
)
async def test_roots_without_a_spawn_link_go_to_the_delegate(
    instrument: InstrumentFactory,
    worker: Worker,
    provider_with: ProviderFactory,
    exporter: InMemorySpanExporter,
    delegate: Sampler,
    sampled: bool,
) -> None:
    instrument(lambda action_id: True, tracer_provider=provider_with(FollowSpawnerSampler(delegate)))

    await worker.run("child:work", {})

    assert len(spans_named(exporter, "hatchet.start_step_run")) == (1 if sampled else 0)


async def test_parent_mode_spans_go_to_the_delegate(
    instrument: InstrumentFactory,
    worker: Worker,
    provider_with: ProviderFactory,
    exporter: InMemorySpanExporter,
) -> None:
    instrument(None, tracer_provider=provider_with(FollowSpawnerSampler(ParentBased(ALWAYS_ON))))

    await worker.run("child:work", {"traceparent": UNSAMPLED_SPAWNER})

    assert spans_named(exporter, "hatchet.start_step_run") == []


def test_description_names_the_delegate() -> None:
    assert FollowSpawnerSampler(ALWAYS_OFF).get_description() == "FollowSpawnerSampler{AlwaysOffSampler}"

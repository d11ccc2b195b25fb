"""A sampled-out spawner without `FollowSpawnerSampler`: what each mode does (as docs/worker.md says).

Parent mode: the run is the child of a non-sampled parent, so the usual `ParentBased` sampler drops it and
everything under it. Link mode: the run is a new root, so the sampler's root decision alone decides; when it
keeps the run, the trace links to a span that was never exported.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler

from hatchet_trace_flags._instrumentation.batch import has_batch_tasks
from tests.support.engine.hatchet_engine import RecordingEngine
from tests.support.worker.fixtures import InstrumentFactory, ProviderFactory, spans_named
from tests.support.worker.traces import SPAWNER_SPAN_ID, SPAWNER_TRACE_ID, ids_in, ids_of, only, traceparent
from tests.support.worker.worker import Worker

if has_batch_tasks():
    from tests.support.worker.batch_worker import batch_action, run_batch

needs_batch_tasks = pytest.mark.skipif(not has_batch_tasks(), reason="hatchet-sdk < 1.37 has no batch tasks")


def sampled(written: str) -> bool:
    # The sampled bit only: OpenTelemetry 1.4x also sets W3C level 2's "random trace id" bit (0x02).
    return bool(int(written.rsplit("-", 1)[1], 16) & 0x01)


async def test_parent_mode_drops_the_run_and_everything_it_triggers(
    instrument: InstrumentFactory,
    worker: Worker,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    provider_with: ProviderFactory,
) -> None:
    # The SDK's default sampler: ParentBased(ALWAYS_ON).
    instrument(lambda action_id: False, tracer_provider=provider_with(ParentBased(ALWAYS_ON)))

    await worker.run("async-child:work", {"traceparent": traceparent(sampled=False)})

    assert exporter.get_finished_spans() == ()
    # The run it triggered carries the spawner's trace, still sampled out: its subtree is dropped too.
    trace_id, _ = ids_in(only(engine.triggers).additional_metadata["traceparent"])
    assert trace_id == SPAWNER_TRACE_ID
    assert not sampled(only(engine.triggers).additional_metadata["traceparent"])


@pytest.mark.parametrize("spawner_sampled", [True, False], ids=["spawner-sampled", "spawner-sampled-out"])
@pytest.mark.parametrize(
    ("root_sampler", "kept"), [(ALWAYS_ON, True), (ALWAYS_OFF, False)], ids=["roots-kept", "roots-dropped"]
)
async def test_link_mode_leaves_the_decision_to_the_root_sampler(
    instrument: InstrumentFactory,
    worker: Worker,
    engine: RecordingEngine,
    exporter: InMemorySpanExporter,
    provider_with: ProviderFactory,
    spawner_sampled: bool,
    root_sampler: Sampler,
    kept: bool,
) -> None:
    instrument(lambda action_id: True, tracer_provider=provider_with(ParentBased(root_sampler)))

    await worker.run("async-child:work", {"traceparent": traceparent(sampled=spawner_sampled)})

    # Whatever the spawner's flag says: the new root is sampled by the root sampler alone.
    steps = spans_named(exporter, "hatchet.start_step_run")
    assert len(steps) == (1 if kept else 0)
    triggered = only(engine.triggers).additional_metadata["traceparent"]
    assert sampled(triggered) is kept
    if kept:
        step = only(steps)
        assert step.parent is None
        [link] = step.links
        assert (link.context.trace_id, link.context.span_id) == (SPAWNER_TRACE_ID, SPAWNER_SPAN_ID)
        # With a sampled-out spawner, the link points at a span no backend has.
        assert link.context.trace_flags.sampled is spawner_sampled
        assert ids_in(triggered)[0] == ids_of(step)[0]


@needs_batch_tasks
async def test_a_linked_batch_with_a_sampled_out_spawner_is_kept_by_the_root_sampler(
    instrument: InstrumentFactory,
    worker: Worker,
    exporter: InMemorySpanExporter,
    provider_with: ProviderFactory,
) -> None:
    instrument(lambda action_id: True, tracer_provider=provider_with(ParentBased(ALWAYS_ON)))

    await run_batch(worker, batch_action("batch:collect", 2, {"traceparent": traceparent(sampled=False)}))

    batch = only(spans_named(exporter, "hatchet.start_batch"))
    [link] = batch.links
    assert link.context.trace_flags.sampled is False

"""The bounded, mergeable fan-out summaries: buckets, merging, caps, delta semantics, fork."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from hatchet_trace_flags._fanout.stats import FanoutStats, summaries
from hatchet_trace_flags.contract import MAX_WORKFLOWS_PER_TASK, OTHER, SECONDS_BOUNDS, Histogram, SpawnerSide
from tests.support.flags.flags import run_in_child


def test_buckets_follow_opentelemetry_explicit_bucket_convention(
    meter_provider: MeterProvider, reader: InMemoryMetricReader
) -> None:
    values = [0.0, 1e-4, 1.5e-4, 0.5, 1.0, 3.0, 1e6]
    ours = Histogram(SECONDS_BOUNDS)
    otel = meter_provider.get_meter("t").create_histogram(
        "h", explicit_bucket_boundaries_advisory=list(SECONDS_BOUNDS)
    )
    for value in values:
        ours.record(value)
        otel.record(value)

    data = reader.get_metrics_data()
    assert data is not None
    [point] = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert isinstance(point, HistogramDataPoint)
    assert list(point.explicit_bounds) == list(SECONDS_BOUNDS)
    assert ours.buckets == list(point.bucket_counts)
    assert (ours.count, ours.total, ours.low, ours.high) == (7, sum(values), 0.0, 1e6)


def test_histograms_merge_by_adding_buckets() -> None:
    first, second, both = (Histogram(SECONDS_BOUNDS) for _ in range(3))
    for value in (0.2, 4.0):
        first.record(value)
        both.record(value)
    for value in (0.001, 60.0, 4.0):
        second.record(value)
        both.record(value)

    first.merge(second)
    first.merge(Histogram(SECONDS_BOUNDS))  # empty: changes nothing

    assert (first.buckets, first.count, first.low, first.high) == (both.buckets, 5, 0.001, 60.0)
    assert first.total == pytest.approx(both.total)
    with pytest.raises(ValueError, match="different bounds"):
        first.merge(Histogram((1.0, 2.0)))


def test_take_returns_the_delta_and_starts_afresh() -> None:
    stats = FanoutStats()
    stats.child_started("w:child", 1.5, link=True, clamped=False)
    stats.run_ended("w:child", 0.1, was_child=True, children={})

    tasks, _ = stats.take()
    child = tasks["w:child"].child
    assert child is not None
    assert (child.runs, child.link, child.start_delay.total, child.duration.count) == (1, 1, 1.5, 1)
    assert stats.take() == ({}, 0)


def test_tasks_beyond_the_cap_are_dropped_and_counted() -> None:
    stats = FanoutStats(max_tasks=2)
    for action_id in ("w:a", "w:b", "w:c", "w:c"):
        stats.child_started(action_id, 1.0, link=False, clamped=False)
    stats.run_ended("w:d", 1.0, was_child=False, children={"x": 3})

    tasks, dropped = stats.take()
    assert set(tasks) == {"w:a", "w:b"}
    assert dropped == 3
    stats.child_started("w:c", 1.0, link=False, clamped=False)  # a new interval: room again
    assert set(stats.take()[0]) == {"w:c"}


def test_a_failed_report_is_restored_and_merged_with_what_came_since() -> None:
    stats = FanoutStats()
    stats.run_ended("w:spawn", 0.05, was_child=False, children={"child": 200})
    taken, dropped = stats.take()
    stats.run_ended("w:spawn", 0.07, was_child=False, children={"child": 100, "other": 1})

    stats.restore(taken, dropped + 2)

    tasks, dropped = stats.take()
    spawner = tasks["w:spawn"].spawner
    assert spawner is not None
    assert (spawner.runs, spawner.children.total, spawner.by_workflow) == (2, 301, {"child": 300, "other": 1})
    assert spawner.duration.total == pytest.approx(0.12)
    assert dropped == 2


def test_child_workflows_per_spawner_are_capped() -> None:
    spawner = SpawnerSide()
    for number in range(MAX_WORKFLOWS_PER_TASK + 5):
        spawner.add_children(f"workflow-{number}", 2)

    assert len(spawner.by_workflow) == MAX_WORKFLOWS_PER_TASK + 1
    assert spawner.by_workflow[OTHER] == 10


def test_a_forked_child_starts_with_empty_summaries(fanout_stats: FanoutStats) -> None:
    summaries.child_started("w:child", 1.0, link=False, clamped=False)

    def in_child() -> list[str]:
        summaries.child_started("w:forked", 1.0, link=False, clamped=False)
        return sorted(summaries.take()[0])

    assert run_in_child(in_child) == ["w:forked"]  # the parent's are the parent's to report
    assert list(summaries.take()[0]) == ["w:child"]

"""The linked-trace -> engine-trace map: who keeps an entry, for how long, and what is forgotten."""

from __future__ import annotations

import threading

from hatchet_trace_flags._engine_view.traces import EngineTraces


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_while_a_run_is_active_and_for_the_grace_after_the_last_one() -> None:
    clock = Clock()
    traces = EngineTraces(grace=10.0, clock=clock)
    traces.hold(1, 0xE1, 0x51)
    traces.hold(1, 0xE2, 0x52)  # a second run of the same trace: the first target stays
    traces.release(1)
    clock.now += 60
    traces.hold(2, 0xE3, 0x53)  # housekeeping runs on holds and releases
    target = traces.targets[1]
    assert (target.engine_trace_id, target.spawner_span_id, target.active) == (0xE1, 0x51, 1)
    traces.release(1)
    clock.now += 9.9
    traces.release(2)
    assert 1 in traces.targets  # within its grace
    clock.now += 0.2
    traces.hold(3, 0xE4, 0x54)
    assert 1 not in traces.targets
    assert 1 in traces.forgotten
    assert 2 in traces.targets  # released 0.2 s ago


def test_the_bound_drops_the_least_recently_released_never_an_active_one() -> None:
    traces = EngineTraces(grace=1_000.0, max_entries=2, max_forgotten=2, clock=Clock())
    traces.hold(1, 0xE1, 1)
    traces.hold(2, 0xE2, 2)
    traces.release(2)
    traces.release(1)
    traces.hold(3, 0xE3, 3)
    assert sorted(traces.targets) == [1, 3]
    assert list(traces.forgotten) == [2]
    traces.hold(4, 0xE4, 4)
    traces.hold(5, 0xE5, 5)  # 3, 4, 5 active: over the bound, yet none is dropped
    assert sorted(traces.targets) == [3, 4, 5]
    assert list(traces.forgotten) == [2, 1]
    traces.release(3)
    assert sorted(traces.targets) == [4, 5]
    assert list(traces.forgotten) == [1, 3]  # the oldest forgotten go first
    traces.hold(1, 0xE1, 1)  # known again
    assert 1 not in traces.forgotten


def test_holds_and_releases_from_many_threads_balance() -> None:
    traces = EngineTraces(grace=0.0, max_entries=10_000)
    start = threading.Barrier(8)

    def work(offset: int) -> None:
        start.wait()
        for trace_id in range(offset, offset + 500):
            traces.hold(trace_id % 50 + 1, 0xE, 1)
            traces.release(trace_id % 50 + 1)

    threads = [threading.Thread(target=work, args=(index * 7,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(target.active == 0 for target in traces.targets.values())

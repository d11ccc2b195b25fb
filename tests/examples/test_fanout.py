"""examples/fanout.py, the newcomer's demo, shows what it claims with 200 children."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import defaultdict
from types import ModuleType

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "fanout.py"
SPREAD = 0.4


@pytest.fixture(scope="module")
def fanout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fanout_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def by_trace(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        traces[span.context.trace_id].append(span)  # type: ignore[union-attr]
    return traces


def duration(spans: list[ReadableSpan]) -> int:
    return max(s.end_time or 0 for s in spans) - min(s.start_time or 0 for s in spans)


def spawn_loop(fanout: ModuleType, spans: list[ReadableSpan]) -> ReadableSpan:
    [span] = [
        s for s in spans if s.attributes and s.attributes.get("hatchet.action_name") == fanout.PARENT_ACTION
    ]
    return span


async def test_link_mode_closes_the_parent_trace_with_its_spawn_loop(fanout: ModuleType) -> None:
    spans = await fanout.run_fan_out(200, SPREAD, lambda action_id: action_id == fanout.CHILD_ACTION)

    traces = by_trace(spans)
    loop = spawn_loop(fanout, spans)
    request_trace = traces.pop(loop.context.trace_id)  # type: ignore[union-attr]
    assert len(traces) == 200
    for trace in traces.values():
        [root] = [span for span in trace if span.parent is None]
        [link] = root.links
        assert link.context.trace_id == loop.context.trace_id  # type: ignore[union-attr]
    # The request's trace ends with its own work (request span > spawn loop), not with the slowest child.
    slowest_child_end = max(span.end_time or 0 for trace in traces.values() for span in trace)
    assert max(span.end_time or 0 for span in request_trace) < slowest_child_end
    assert duration(request_trace) < duration([loop]) + 50_000_000
    assert len(request_trace) == 2 + 200  # request span, spawn loop, one trigger span per child


async def test_parent_mode_keeps_the_parent_trace_open_until_the_slowest_child(fanout: ModuleType) -> None:
    spans = await fanout.run_fan_out(200, SPREAD, None)

    [request_trace] = by_trace(spans).values()
    assert len(request_trace) == 2 + 200 * 3
    assert duration(request_trace) >= SPREAD * 1e9 * 0.9
    assert all(span.links == () for span in request_trace)


def test_main_prints_both_shapes(fanout: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    fanout.main(["--children", "20", "--spread", "0.05"])

    out = capsys.readouterr().out
    assert "PARENT MODE" in out
    assert "traces: 1\n" in out
    assert "LINK MODE" in out
    assert "traces: 21\n" in out
    assert "links on each root: [1]" in out


def test_the_example_exits_on_its_own_after_a_large_fan_out() -> None:
    """Regression: 200 children's worker events once filled an undrained multiprocessing pipe: no exit."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--children", "200", "--spread", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "traces: 201" in result.stdout

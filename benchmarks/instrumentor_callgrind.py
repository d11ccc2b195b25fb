"""Task starts of one ``bench_instrumentor`` variant, for counting instructions with callgrind.

Wall-clock ratios swing by tens of percent on a shared machine; instruction counts do not. This runs one
variant's task starts on the same hatchet-sdk paths as ``bench_instrumentor`` (its ``_variant``, engine
processor and in-memory exporter included), and under valgrind turns instrumentation on only for the starts
and the provider's shutdown, which flushes the exporter thread's work for them, then exits at once::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \\
        .venv/bin/python -m benchmarks.instrumentor_callgrind link 1000

"Collected" divided by the number of starts is the cost of one start, both threads included (about 0.4 k
instructions of it is the toggle itself). Variants: those of ``bench_instrumentor`` (``floor``, ``stock``,
``parent``, ``link``, ``link-noview``, ``link-noevent``, ``link-nobacklinks``, the ``-noengine`` ones...).
Not a ``bench_`` module: ``python -m benchmarks`` does not run it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from queue import Queue

from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.config import ClientTLSConfig
from hatchet_sdk.worker.runner.runner import Runner
from hatchet_sdk.worker.runner.utils.capture_logs import AsyncLogSender

from benchmarks import bench_instrumentor as bench

WARM_UP = 50


def _under_valgrind() -> bool:
    return "vgpreload" in os.environ.get("LD_PRELOAD", "")


def main(variant: str, starts: int) -> None:
    config = ClientConfig(token=bench._token(), tls_config=ClientTLSConfig(strategy="none"))
    hatchet = Hatchet(config=config)
    runner = Runner(Queue(), config, 1, 1, False, {}, [], None, AsyncLogSender(hatchet.event))
    action = bench._action()
    loop = asyncio.new_event_loop()

    async def start(count: int) -> None:
        for _ in range(count):
            await runner.handle_start_step_run(action)

    with bench._in_memory_engine_exporter(), bench._variant(variant, config) as provider:
        loop.run_until_complete(start(WARM_UP))
        provider.force_flush()
        control = shutil.which("callgrind_control")  # installed with valgrind
        if _under_valgrind() and control is not None:
            command = [control, "-i", "on", str(os.getpid())]
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (valgrind's tool, our pid)
        loop.run_until_complete(start(starts))
        provider.shutdown()
        sys.stdout.flush()
        os._exit(0)  # nothing after the measured work: no unwrapping, no interpreter teardown


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

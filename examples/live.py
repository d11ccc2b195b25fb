"""The whole loop, live: the admin service with its dashboard, and a worker that follows it.

    python examples/live.py [--port 8080] [--data-dir data] [--children 20] [--every 3]

Starts `hatchet-trace-flags serve` on 127.0.0.1 with embedded SQLite in `--data-dir`, then runs the fan-out of
`examples/fanout.py` again and again on hatchet-sdk's real worker path, with the worker's predicate following
the service (`AdminServiceProvider`, the same wiring as `HATCHET_TRACE_FLAGS_URL` in production). Open the
dashboard, sign in with the printed admin token, switch `fanout-worker:process-item` to link (or flip the kill
switch) and watch the next round change shape. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from fanout import CHILD_ACTION, FLAGS_DOMAIN, run_fan_out, summarize
from openfeature import api

from hatchet_trace_flags import AdminServiceProvider, FlagPredicate


def start_service(port: int, data_dir: Path, admin_token: str, read_token: str) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": f"you:{admin_token}",
        "HATCHET_TRACE_FLAGS_READ_TOKENS": f"demo-worker:{read_token}",
    }
    log = (data_dir / "service.log").open("ab")
    command = [sys.executable, "-m", "hatchet_trace_flags_server", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, service: subprocess.Popen[bytes], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(
                f"the admin service exited with {service.returncode}; see its log in the data dir"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the admin service did not become ready within {within:.0f} s")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between fan-outs")
    parser.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (0: until Ctrl-C)")
    arguments = parser.parse_args(argv)
    logging.getLogger("hatchet").setLevel(logging.WARNING)

    url = f"http://127.0.0.1:{arguments.port}"
    admin_token, read_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    service = start_service(arguments.port, arguments.data_dir, admin_token, read_token)
    try:
        wait_ready(url, service)
        print(f"\nDashboard: {url}/   sign in with the admin token: {admin_token}")
        print(f"Switch {CHILD_ACTION} between link and parent there; each round below shows the shape.\n")
        # Reports the tasks it runs each second, so they show up in the dashboard right away.
        provider = AdminServiceProvider(url, read_token, worker_name="examples/live.py", report_interval=1.0)
        api.set_provider_and_wait(provider, FLAGS_DOMAIN)
        with FlagPredicate() as predicate:
            round_number = 0
            while arguments.rounds == 0 or round_number < arguments.rounds:
                round_number += 1
                spans = asyncio.run(run_fan_out(arguments.children, 0.2, predicate))
                mode = "link" if predicate(CHILD_ACTION) else "parent"
                print(f"round {round_number}: {CHILD_ACTION} in {mode} mode: {summarize(spans)}", flush=True)
                time.sleep(arguments.every)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        api.clear_providers()
        service.terminate()
        service.wait(timeout=10)


if __name__ == "__main__":
    main()

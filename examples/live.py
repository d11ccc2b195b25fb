"""The whole loop, live: the admin service with its dashboard, and a worker that follows it.

    python examples/live.py [--port 8080] [--data-dir data] [--children 20] [--spread 1] [--every 3]
    make run PORT=8081          # the same through make; --port 0 (PORT=0) picks any free port

Starts `hatchet-trace-flags serve` on 127.0.0.1 with embedded SQLite in `--data-dir`, then runs the fan-out of
`examples/fanout.py` again and again on hatchet-sdk's real worker path, with the worker's predicate following
the service (`AdminServiceProvider`, the same wiring as `HATCHET_TRACE_FLAGS_URL` in production). Open the
dashboard, sign in with the printed admin token (or use the printed CLI lines), switch
`fanout-worker:process-item` to link (or flip the kill switch) and watch the next round change shape.
The worker also measures the fan-out (children per run, how late they start) and sends it along: within
a few rounds the service recommends link mode for the task, and the demo prints that recommendation
(the dashboard's "Fan-out insight" page shows it with its numbers and a button that applies it).

If the port is taken it stops with "port ... is in use" rather than talking to whatever answers there.
Ctrl-C, SIGTERM or SIGHUP stop the demo and the service it started; on Linux the service also stops if the
demo is killed outright (SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import httpx
from fanout import CHILD_ACTION, FLAGS_DOMAIN, run_fan_out, summarize
from openfeature import api

from hatchet_trace_flags import AdminServiceProvider, FlagPredicate

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def claim_port(port: int) -> int:
    """The port to serve on: ``port`` if nobody listens there, any free one for 0, else a clear exit.

    Checked up front because the service exiting on a taken port is not visible in time: something else
    answering ``/readyz`` there would look ready. ``SO_REUSEADDR`` as uvicorn sets it, so a port left in
    TIME_WAIT by the previous run counts as free.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise SystemExit(
                f"live.py: port {port} on {HOST} is in use by another process. Stop it, or pick another "
                f"port: make run PORT={port + 1} (python examples/live.py --port {port + 1}); "
                "PORT=0 picks any free port."
            ) from None
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the demo is killed outright (SIGKILL), the kernel
    # sends the service SIGTERM, so it never keeps the port for the next run.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_service(port: int, data_dir: Path, admin_token: str, read_token: str) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "HATCHET_TRACE_FLAGS_ADMIN_TOKENS": f"you:{admin_token}",
        "HATCHET_TRACE_FLAGS_READ_TOKENS": f"demo-worker:{read_token}",
    }
    log = (data_dir / "service.log").open("ab")
    command = [sys.executable, "-m", "hatchet_trace_flags_server", "serve", "--host", HOST]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    preexec: Callable[[], None] | None = _die_with_parent if sys.platform == "linux" else None
    return subprocess.Popen(
        command, env=environment, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec
    )


def wait_ready(
    url: str, service: subprocess.Popen[bytes], admin_token: str, data_dir: Path, within: float = 30.0
) -> None:
    """Waits for *our* service: ready, still running, and accepting the token only it knows."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(
                f"live.py: the admin service exited with {service.returncode}; see {data_dir / 'service.log'}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise SystemExit(f"live.py: the admin service did not become ready within {within:.0f} s")
    answer = httpx.get(
        f"{url}/api/v1/settings", headers={"Authorization": f"Bearer {admin_token}"}, timeout=5.0
    )
    if answer.status_code != 200 or service.poll() is not None:
        raise SystemExit(
            f"live.py: {url} is answered by a service this demo did not start (HTTP {answer.status_code} "
            "for its token); pick another port with --port"
        )


def cli_command() -> str:
    """How to run the CLI that belongs to this Python, as a newcomer would type it from here."""
    script = Path(sys.executable).parent / "hatchet-trace-flags"
    if not script.exists():
        return f"{sys.executable} -m hatchet_trace_flags_server"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def print_instructions(url: str, admin_token: str) -> None:
    cli = cli_command()
    print(f"\nDashboard: {url}/   sign in with the admin token: {admin_token}")
    print("CLI, from another shell in this directory:")
    print(f"  export HATCHET_TRACE_FLAGS_URL={url} HATCHET_TRACE_FLAGS_CLI_TOKEN={admin_token}")
    print(f"  {cli} tasks set {CHILD_ACTION} link")
    print(f"  {cli} tasks list")
    print(f"Switch {CHILD_ACTION} between link and parent; each round below shows the shape.\n", flush=True)


def recommendation(url: str, admin_token: str) -> str | None:
    """The service's recommendation for the demo's child task, once its numbers make one."""
    try:
        answer = httpx.get(
            f"{url}/api/v1/insights/{CHILD_ACTION}",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=5.0,
        )
    except httpx.TransportError:
        return None
    if answer.status_code != 200 or answer.json().get("recommendation") is None:
        return None
    reason: str = answer.json()["recommendation"]["reason"]
    return reason


def _stop(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM and SIGHUP take the same way out as Ctrl-C, so the finally below stops the service. Ctrl-C
    # too, explicitly: a demo started with SIGINT ignored (a shell script's background job) still stops.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument(
        "--spread", type=float, default=1.0, help="seconds over which the children start (queueing)"
    )
    parser.add_argument("--every", type=float, default=3.0, help="seconds between fan-outs")
    parser.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (0: until Ctrl-C)")
    arguments = parser.parse_args(argv)
    logging.getLogger("hatchet").setLevel(logging.WARNING)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)

    port = claim_port(arguments.port)
    url = f"http://{HOST}:{port}"
    admin_token, read_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    service = start_service(port, arguments.data_dir, admin_token, read_token)
    try:
        wait_ready(url, service, admin_token, arguments.data_dir)
        print_instructions(url, admin_token)
        # Reports the tasks it runs each second, so they show up in the dashboard right away.
        provider = AdminServiceProvider(url, read_token, worker_name="examples/live.py", report_interval=1.0)
        api.set_provider_and_wait(provider, FLAGS_DOMAIN)
        with FlagPredicate() as predicate:
            round_number = 0
            told: str | None = None
            while arguments.rounds == 0 or round_number < arguments.rounds:
                round_number += 1
                spans = asyncio.run(run_fan_out(arguments.children, arguments.spread, predicate))
                mode = "link" if predicate(CHILD_ACTION) else "parent"
                print(f"round {round_number}: {CHILD_ACTION} in {mode} mode: {summarize(spans)}", flush=True)
                advice = recommendation(url, admin_token)
                if advice is not None and told is None:  # once, not again as its numbers move
                    print(f"  insight for {CHILD_ACTION}: {advice}", flush=True)
                    print(f"  see {url}/insights (one click applies it), or: {cli_command()} tasks insights")
                told = advice
                time.sleep(arguments.every)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second stop must not cut the clean-up short
        api.clear_providers()
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


if __name__ == "__main__":
    main()

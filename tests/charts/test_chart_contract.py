"""The chart and the service agree: the rendered pod spec starts the real server, which gets ready.

For each scenario this does what the kubelet and the container runtime would do with the rendered
Deployment: populate the volumes (Secrets from the release or from the "cluster", emptyDirs and
claims as empty directories), build the environment (image ENV from server/Dockerfile, then the
ConfigMap through envFrom, then env with secretKeyRef resolved) and run the image's ENTRYPOINT with
the container's args. Only three things are adapted to a test host, and asserted before they are:
mount paths map to temporary directories, HOST 0.0.0.0 becomes 127.0.0.1 (servers in tests bind
loopback only) and PORT 8080 becomes a free port.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.charts.chart import REPO_ROOT, SCENARIOS, Release, scenario_values
from tests.support.charts.dockerfile import default_args, entry_point, image_env

pytestmark = pytest.mark.slow

POSTGRES_ADMIN_DSN = "postgresql://root@127.0.0.1:5432/postgres"
# Per process: concurrent runs on one PostgreSQL (several checkouts, CI beside a developer) must not drop
# each other's database.
CONTRACT_DATABASE = f"chart_contract_{os.getpid()}"
ADMIN_TOKEN = "contract-admin-token-0123456789"
READ_TOKEN = "contract-read-token-0123456789"

# What the cluster holds for the scenarios that point at existing Secrets.
CLUSTER_SECRETS: dict[str, dict[str, str]] = {
    "flags-tokens": {
        "admin-tokens": f"ops:{ADMIN_TOKEN}",
        "read-tokens": f"workers:{READ_TOKEN}",
        "admins": f"ops:{ADMIN_TOKEN}",
        "readers": f"workers:{READ_TOKEN}",
    },
    "flags-postgresql": {
        "url": f"postgresql://root@127.0.0.1:5432/{CONTRACT_DATABASE}",
        "database-url": f"postgresql://root@127.0.0.1:5432/{CONTRACT_DATABASE}",
    },
}
# The scenario files that create their own token Secret use these (see ci/*-values.yaml).
CHART_ADMIN_TOKEN = "ci-admin-token-0123456789abcdef"
CHART_READ_TOKEN = "ci-read-token-0123456789abcdef"


class Pod:
    """The rendered pod spec, materialised on this host."""

    def __init__(self, release: Release, root: Path) -> None:
        self.release = release
        self.root = root
        self.mounts: dict[str, Path] = {}
        volumes = {volume["name"]: volume for volume in release.pod_spec["volumes"]}
        for mount in release.container["volumeMounts"]:
            host_path = root / "mounts" / mount["name"]
            host_path.mkdir(parents=True)
            self._populate(volumes[mount["name"]], host_path)
            self.mounts[mount["mountPath"]] = host_path

    def _secret(self, name: str) -> dict[str, str]:
        for secret in self.release.all("Secret"):
            if secret["metadata"]["name"] == name:
                return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        return CLUSTER_SECRETS[name]

    def _populate(self, volume: dict[str, Any], host_path: Path) -> None:
        if "secret" in volume:
            data = self._secret(volume["secret"]["secretName"])
            for item in volume["secret"]["items"]:
                (host_path / item["path"]).write_text(data[item["key"]])
        else:
            assert {"emptyDir", "persistentVolumeClaim"} & volume.keys(), volume

    def host_path(self, value: str) -> str:
        for mount_path, host_path in self.mounts.items():
            if value == mount_path or value.startswith(f"{mount_path}/"):
                return str(host_path) + value[len(mount_path) :]
        return value

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in image_env().items() if key != "PATH"}
        for source in self.release.container.get("envFrom", []):
            env.update(self.release.config if "configMapRef" in source else {})
        for entry in self.release.container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = self._secret(ref["name"])[ref["key"]]
        return {key: self.host_path(value) for key, value in env.items()}

    def command(self) -> list[str]:
        (script,) = entry_point()
        target = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"][script]
        module, function = target.split(":")
        # Exactly what the installed console script does.
        shim = (
            f"import sys; from {module} import {function}; sys.argv[0] = {script!r}; sys.exit({function}())"
        )
        args = self.release.container.get("args", default_args())
        return [sys.executable, "-c", shim, *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def contract_database() -> Iterator[None]:
    async def recreate(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {CONTRACT_DATABASE} WITH (FORCE)")
            if statement:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(recreate(f"CREATE DATABASE {CONTRACT_DATABASE}"))
    yield
    asyncio.run(recreate(""))


def _tokens(release: Release, scenario: str) -> tuple[str, str]:
    """The admin and read token a client would use: the cluster's, the scenario's, or the generated ones."""
    if not release.has("Secret"):
        return ADMIN_TOKEN, READ_TOKEN
    auth = scenario_values(scenario).get("auth", {})
    data = {key: base64.b64decode(value).decode() for key, value in release.one("Secret")["data"].items()}
    generated = {key: data[key].split(":", 1)[1] for key in ("admin-tokens", "read-tokens") if key in data}
    admin = CHART_ADMIN_TOKEN if auth.get("adminTokens") else generated["admin-tokens"]
    read = CHART_READ_TOKEN if auth.get("readTokens") else generated["read-tokens"]
    return admin, read


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"/readyz did not answer 200 within 60 s:\n{log.read_text()}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_pod_spec_starts_a_ready_server(
    releases: dict[str, Release], scenario: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if releases[scenario].config.get("HATCHET_TRACE_FLAGS_DATA_DIR") is None:
        request.getfixturevalue("contract_database")  # only PostgreSQL mode needs the server
    pod = Pod(releases[scenario], tmp_path)
    env = pod.environment()
    assert env["HATCHET_TRACE_FLAGS_HOST"] == "0.0.0.0", "reachable from outside the pod"
    assert env["HATCHET_TRACE_FLAGS_PORT"] == str(pod.release.container["ports"][0]["containerPort"])
    port = _free_port()
    env |= {
        "HATCHET_TRACE_FLAGS_HOST": "127.0.0.1",
        "HATCHET_TRACE_FLAGS_PORT": str(port),
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "server")]),
        "TMPDIR": pod.host_path("/tmp"),
    }
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    log = tmp_path / "server.log"
    base_url = f"http://127.0.0.1:{port}"

    with log.open("wb") as output:
        process = subprocess.Popen(
            pod.command(), env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_ready(process, base_url, log)
            assert httpx.get(f"{base_url}/healthz").status_code == 200
            metrics = httpx.get(f"{base_url}/metrics")
            assert metrics.status_code == 200
            assert "# TYPE" in metrics.text

            # The tokens reached the service through the mounted files, each with its scope:
            # a read token is known (403, not 401) on an admin endpoint and works on OFREP.
            admin, read = _tokens(releases[scenario], scenario)
            has_read_tokens = "HATCHET_TRACE_FLAGS_READ_TOKENS_FILE" in env
            admin_only = f"{base_url}/api/v1/settings"
            readable = f"{base_url}/ofrep/v1/configuration"
            assert httpx.get(admin_only).status_code == 401
            assert httpx.get(admin_only, headers=_bearer(admin)).status_code == 200
            assert httpx.get(admin_only, headers=_bearer(read)).status_code == (
                403 if has_read_tokens else 401
            )
            assert httpx.get(readable, headers=_bearer(read)).status_code == (200 if has_read_tokens else 401)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    if scenario != "postgresql":
        assert (pod.mounts["/data"] / "flags.db").exists(), "the SQLite file lives on the data volume"

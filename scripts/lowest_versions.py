"""The library's tests against the LOWEST supported versions of its dependencies (part of `make test`).

Builds .venv-lowest with uv: every direct dependency of the library at exactly the lower bound in
pyproject.toml (hatchet-sdk 1.33.13, OpenTelemetry 1.35.0, ...), everything they pull in at the newest
version that fits, plus the `test` extra, never the `server` extra. pip then installs the library itself
into that set, which is the proof that `pip install hatchet-trace-flags` succeeds beside those versions, and
`pip check` must agree; pip also resolves it (dry run) beside the set issue 10 names for its users,
hatchet-sdk 1.35.1 with OpenTelemetry 1.35.0. The venv is rebuilt only when pyproject.toml or this script
changes (a stamp keyed on both), so a second run only runs the tests.

Tests run: everything under tests/ except the admin service's (tests/server), the chart's (tests/charts), the
examples' (tests/examples, which start the service), the provider end-to-end test (it starts the
service) and the wheel-install test (it needs `build` and the service's dependencies); the admin
follower's tests that need the running service skip themselves ("needs the server extra").
The stub-based provider tests stay: they are what exercises httpx and httpx-sse at their lowest.

Then, whatever the library's tests did, scripts/lowest_server.py does the same for the `server` extra in
its own venv (.venv-lowest-server) and runs a smoke subset of the service's tests on SQLite; the job fails
if either fails.

Usage: .venv/bin/python scripts/lowest_versions.py [extra pytest arguments, for the library's tests only]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-lowest"
PYTHON = VENV / "bin" / "python"
PYTEST_ARGUMENTS = [
    "tests",
    "--ignore=tests/server",
    "--ignore=tests/charts",
    "--ignore=tests/examples",
    "--ignore=tests/library/admin/test_admin_end_to_end.py",
    # Builds the wheel with `build` (a dev tool) and imports the service from it: `make dist`'s test.
    "--ignore=tests/library/test_install.py",
]
# What a service from the issue that asked for these ranges runs: pip must accept the library beside it.
USERS_SET = ["hatchet-sdk[otel]==1.35.1", "opentelemetry-api==1.35.0", "opentelemetry-sdk==1.35.0"]
# Never let uv fetch a Python of its own: the venv uses the interpreter running this script.
UV_ENVIRONMENT = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}


def lowest_pins(lines: list[str]) -> dict[str, str]:
    """Each requirement's name -> its lower bound, which must be exactly one ``>=``."""
    pins: dict[str, str] = {}
    for line in lines:
        requirement = Requirement(line)
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"lowest_versions: {line!r} needs exactly one lower bound (>=) to be tested")
        pins[canonicalize_name(requirement.name)] = lows[0]
    return pins


def uv(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "uv", *arguments], check=True, env=UV_ENVIRONMENT, cwd=ROOT)


def build_venv(venv: Path, pins: dict[str, str], extra: str | None, tools: list[str]) -> None:
    """A fresh ``venv``: the library (with ``extra``) and ``pins`` exactly, everything else the newest that
    fits, then ``tools`` within that set. pip, not uv, installs the library: resolving its own requirements
    against exactly this set is the install proof, and ``pip check`` must agree."""
    shutil.rmtree(venv, ignore_errors=True)
    python = venv / "bin" / "python"
    # --seed: pip is what installs the library below.
    uv("venv", "--quiet", "--seed", "--python", sys.executable, str(venv))
    # The floors as constraints, not `--resolution lowest-direct`, which lets uv pull some of them up.
    constraints = venv / "lowest-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    resolved = venv / "lowest.txt"
    extras = ["--extra", extra] if extra else []
    uv(
        "pip",
        "compile",
        "--quiet",
        "--python",
        str(python),
        "pyproject.toml",
        *extras,
        "-c",
        str(constraints),
        "-o",
        str(resolved),
    )
    uv("pip", "install", "--quiet", "--python", str(python), "-r", str(resolved))
    uv("pip", "install", "--quiet", "--python", str(python), "-c", str(resolved), *tools)
    target = f".[{extra}]" if extra else "."
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(resolved), "-e", target],
        check=True,
        cwd=ROOT,
    )
    subprocess.run([str(python), "-m", "pip", "check"], check=True, cwd=ROOT)


def build(project: dict[str, Any], pins: dict[str, str]) -> None:
    build_venv(VENV, pins, None, project["optional-dependencies"]["test"])
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--dry-run", ".", *USERS_SET], check=True, cwd=ROOT
    )


def installed_versions(python: Path, names: list[str]) -> dict[str, str]:
    probe = "import sys, importlib.metadata as m; print(*(m.version(name) for name in sys.argv[1:]))"
    output = subprocess.run(
        [str(python), "-c", probe, *names], check=True, capture_output=True, text=True
    ).stdout
    return dict(zip(names, output.split(), strict=True))


def ensure_lowest(venv: Path, pins: dict[str, str], build_it: Callable[[], None], key: bytes) -> None:
    """Build ``venv`` unless its stamp for ``key`` exists, then check that ``pins`` are what it holds."""
    stamp = venv / f".built-{hashlib.sha256(key + sys.version.encode()).hexdigest()[:16]}"
    started = time.monotonic()
    if not stamp.exists():
        build_it()
        stamp.touch()
        print(f"lowest_versions: built {venv.name} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    installed = installed_versions(venv / "bin" / "python", list(pins))
    wrong = {name: found for name, found in installed.items() if Version(found) != Version(pins[name])}
    if wrong:
        raise SystemExit(f"lowest_versions: {venv.name} holds {wrong}, not the lowest set {pins}")
    found = ", ".join(f"{name} {version}" for name, version in installed.items())
    print(f"lowest_versions: {venv.name} has {found}", file=sys.stderr)


def main() -> int:
    # Imported here, not at the top: lowest_server imports this module's helpers.
    import lowest_server

    pyproject = (ROOT / "pyproject.toml").read_bytes()
    project = tomllib.loads(pyproject.decode())["project"]
    pins = lowest_pins(project["dependencies"])
    ensure_lowest(VENV, pins, lambda: build(project, pins), pyproject + Path(__file__).read_bytes())
    tests_started = time.monotonic()
    result = subprocess.run([str(PYTHON), "-m", "pytest", "-q", *PYTEST_ARGUMENTS, *sys.argv[1:]], cwd=ROOT)
    print(f"lowest_versions: tests took {time.monotonic() - tests_started:.1f} s", file=sys.stderr)
    # The service's smoke tests run whatever the library's did: one job, both answers.
    server_code = lowest_server.run(project, pyproject, [])
    return result.returncode or server_code


if __name__ == "__main__":
    raise SystemExit(main())

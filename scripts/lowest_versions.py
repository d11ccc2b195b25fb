"""The library's tests against the LOWEST supported versions of its dependencies (part of `make test`).

Builds .venv-lowest with uv: every direct dependency of the library at exactly the lower bound in
pyproject.toml (hatchet-sdk 1.33.13, OpenTelemetry 1.35.0, ...), everything they pull in at the newest
version that fits, plus the `test` extra, never the `server` extra. pip then installs the library itself
into that set, which is the proof that `pip install hatchet-trace-flags` succeeds beside those versions, and
`pip check` must agree; pip also resolves it (dry run) beside the set issue 10 names for its users,
hatchet-sdk 1.35.1 with OpenTelemetry 1.35.0. The venv is rebuilt only when pyproject.toml or this script
changes (a stamp keyed on both), so a second run only runs the tests.

Tests run: everything under tests/ except the admin service's (tests/server), the chart's (tests/charts), the
examples' (tests/examples, which start the service) and the provider end-to-end test (it starts the
service); tests/provider's tests that need the running service skip themselves ("needs the server extra").
The stub-based provider tests stay: they are what exercises httpx and httpx-sse at their lowest.

Usage: .venv/bin/python scripts/lowest_versions.py [extra pytest arguments]
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
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
    "--ignore=tests/provider/test_admin_end_to_end.py",
]
# What a service from the issue that asked for these ranges runs: pip must accept the library beside it.
USERS_SET = ["hatchet-sdk[otel]==1.35.1", "opentelemetry-api==1.35.0", "opentelemetry-sdk==1.35.0"]
# Never let uv fetch a Python of its own: the venv uses the interpreter running this script.
UV_ENVIRONMENT = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}


def lowest_pins(project: dict[str, Any]) -> dict[str, str]:
    """Each direct dependency's name -> its lower bound, which must be exactly one ``>=``."""
    pins: dict[str, str] = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"lowest_versions: {line!r} needs exactly one lower bound (>=) to be tested")
        pins[canonicalize_name(requirement.name)] = lows[0]
    return pins


def uv(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "uv", *arguments], check=True, env=UV_ENVIRONMENT, cwd=ROOT)


def build(project: dict[str, Any], pins: dict[str, str]) -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    # --seed: pip is what installs the library below.
    uv("venv", "--quiet", "--seed", "--python", sys.executable, str(VENV))
    constraints = VENV / "lowest-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    resolved = VENV / "lowest.txt"
    uv(
        "pip",
        "compile",
        "--quiet",
        "--python",
        str(PYTHON),
        "pyproject.toml",
        "-c",
        str(constraints),
        "-o",
        str(resolved),
    )
    uv("pip", "install", "--quiet", "--python", str(PYTHON), "-r", str(resolved))
    test_extra = project["optional-dependencies"]["test"]
    uv("pip", "install", "--quiet", "--python", str(PYTHON), "-c", str(resolved), *test_extra)
    # pip, not uv: resolving the library's own requirements against exactly this set is the install proof.
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-c", str(resolved), "-e", "."],
        check=True,
        cwd=ROOT,
    )
    subprocess.run([str(PYTHON), "-m", "pip", "check"], check=True, cwd=ROOT)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--dry-run", ".", *USERS_SET], check=True, cwd=ROOT
    )


def installed_versions(names: list[str]) -> dict[str, str]:
    probe = "import sys, importlib.metadata as m; print(*(m.version(name) for name in sys.argv[1:]))"
    output = subprocess.run(
        [str(PYTHON), "-c", probe, *names], check=True, capture_output=True, text=True
    ).stdout
    return dict(zip(names, output.split(), strict=True))


def main() -> int:
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    project = tomllib.loads(pyproject.decode())["project"]
    pins = lowest_pins(project)
    key = hashlib.sha256(pyproject + Path(__file__).read_bytes() + sys.version.encode()).hexdigest()[:16]
    stamp = VENV / f".built-{key}"
    started = time.monotonic()
    if not stamp.exists():
        build(project, pins)
        stamp.touch()
        print(f"lowest_versions: built {VENV.name} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    installed = installed_versions(list(pins))
    wrong = {name: found for name, found in installed.items() if Version(found) != Version(pins[name])}
    if wrong:
        raise SystemExit(f"lowest_versions: not the lowest set, found {wrong}, expected {pins}")
    print(
        "lowest_versions: " + ", ".join(f"{name} {found}" for name, found in installed.items()),
        file=sys.stderr,
    )
    tests_started = time.monotonic()
    result = subprocess.run([str(PYTHON), "-m", "pytest", "-q", *PYTEST_ARGUMENTS, *sys.argv[1:]], cwd=ROOT)
    print(f"lowest_versions: tests took {time.monotonic() - tests_started:.1f} s", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())

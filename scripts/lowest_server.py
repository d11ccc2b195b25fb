"""The admin service's smoke tests against the LOWEST supported versions of the `server` extra.

Called by scripts/lowest_versions.py after the library's tests (so part of `make test`), or alone:
`.venv/bin/python scripts/lowest_server.py [extra pytest arguments]`.

Builds .venv-lowest-server with uv: every direct dependency of the library AND every dependency of the
`server` extra at exactly its lower bound in pyproject.toml (FastAPI, Starlette, SQLAlchemy, Alembic, ...),
everything they pull in at the newest version that fits, then the `test` extra and Playwright (the
dashboard's conftest imports it; no browser is started). pip installs the library with the extra into that
set and `pip check` must agree. Rebuilt only when pyproject.toml or one of these two scripts changes.

Tests run, on SQLite only (about 55 s on a 2-core machine, 15 s of it pytest starting up): four of the
rules API's (tests/server/api/test_api_rules.py), readiness, metrics and the migrations
(tests/server/app/test_operations.py), and every test of the dashboard's form and query models, over plain
HTTP without Chromium (tests/server/dashboard/test_inputs.py). tests/server/conftest.py parametrizes
`backend` over "sqlite" and "postgresql": the API tests are named with `[sqlite]`, `-k "not postgresql"`
drops the PostgreSQL half elsewhere, and the one test that asks for PostgreSQL directly is deselected by
name, so the job needs no database server.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from lowest_versions import ROOT, build_venv, ensure_lowest, lowest_pins
from packaging.requirements import Requirement

VENV = ROOT / ".venv-lowest-server"
PYTHON = VENV / "bin" / "python"
# The API through what FastAPI does for it: a JSON body refused with problem details, a raw body, ETag
# headers, query parameters with validators. The SQLite half of each (the `backend` parametrization).
API_TESTS = [
    "test_settings_put_needs_both_fields",
    "test_snapshot_is_the_rules_document_with_etag_and_revision",
    "test_import_of_non_json_is_422",
    "test_audit_log_filters_and_pages",
]
# Left out of the other two files, each for a reason that is not about the `server` extra's versions.
DESELECTED = [
    "postgresql",  # the PostgreSQL half of the `backend` parametrization: the job needs no database server
    "test_libpq_style_query_parameters_work",  # asks for PostgreSQL directly
    "test_replicas_migrating_at_once_do_not_race",  # two processes, ~4 s; the migrations test stays
]
SMOKE_TESTS = [
    *(f"tests/server/api/test_api_rules.py::{name}[sqlite]" for name in API_TESTS),
    "tests/server/app/test_operations.py",
    "tests/server/dashboard/test_inputs.py",
    "-k",
    " and ".join(f"not {name}" for name in DESELECTED),
]
# Test tools beyond the `test` extra that the smoke tests import, at the range the `dev` extra names.
EXTRA_TOOLS = {"playwright"}


def server_pins(project: dict[str, Any]) -> dict[str, str]:
    """The library's floors and the `server` extra's, which must agree where both name a package."""
    pins = lowest_pins(project["dependencies"])
    for name, version in lowest_pins(project["optional-dependencies"]["server"]).items():
        if pins.setdefault(name, version) != version:
            raise SystemExit(
                f"lowest_server: the server extra's floor for {name} ({version}) differs from the "
                f"library's ({pins[name]}); the higher one is the one that holds, write it in both"
            )
    return pins


def tools(project: dict[str, Any]) -> list[str]:
    extras = project["optional-dependencies"]
    dev = [line for line in extras["dev"] if Requirement(line).name in EXTRA_TOOLS]
    return [*extras["test"], *dev]


def run(project: dict[str, Any], pyproject: bytes, arguments: list[str]) -> int:
    pins = server_pins(project)
    key = pyproject + Path(__file__).read_bytes() + (ROOT / "scripts" / "lowest_versions.py").read_bytes()
    ensure_lowest(VENV, pins, lambda: build_venv(VENV, pins, "server", tools(project)), key)
    started = time.monotonic()
    result = subprocess.run([str(PYTHON), "-m", "pytest", "-q", *SMOKE_TESTS, *arguments], cwd=ROOT)
    print(f"lowest_server: tests took {time.monotonic() - started:.1f} s", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    raise SystemExit(run(tomllib.loads(pyproject.decode())["project"], pyproject, sys.argv[1:]))

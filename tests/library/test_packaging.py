"""What users get: the public names, the wheel's contents, and a library that never pulls in the service."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import hatchet_trace_flags
from tests.support.paths import REPO

ROOT = REPO

PUBLIC_NAMES = [
    "DEFAULT_FLAG_KEY",
    "DOCUMENT_VERSION",
    "RELATIONSHIP_METADATA_KEY",
    "SPAWN_LINK_ATTRIBUTE",
    "AdminServiceProvider",
    "Decision",
    "FlagPredicate",
    "FollowSpawnerSampler",
    "HatchetInstrumentor",
    "LocalProvider",
    "Mode",
    "Reason",
    "Relationship",
    "RuleSet",
    "RulesError",
    "RulesProvider",
    "WorkerSettings",
    "install_provider",
    "predicate_from_env",
    "to_flagd",
    "trace_relationship",
    "validate_action_id",
    "validate_mode",
    "validate_pattern",
]


def test_public_names_are_pinned() -> None:
    assert hatchet_trace_flags.__all__ == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(hatchet_trace_flags, name) is not None
        assert not getattr(
            getattr(hatchet_trace_flags, name), "__module__", "hatchet_trace_flags"
        ).startswith("hatchet_trace_flags_server")


def test_the_rules_load_without_hatchet_sdk_grpc_or_the_otel_sdk() -> None:
    # What the admin service imports: it must not pay for (or depend on) the worker side.
    probe = (
        "import sys\n"
        "import hatchet_trace_flags\n"
        "from hatchet_trace_flags import RuleSet, RulesError, to_flagd, validate_action_id\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'hatchet_sdk', 'grpc', 'openfeature', 'pydantic', 'wrapt', 'httpx'}),"
        " 'opentelemetry.sdk' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["[]", "False"]


def test_importing_the_library_loads_nothing_of_the_service() -> None:
    probe = (
        "import sys\nfrom hatchet_trace_flags import *\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'hatchet_trace_flags_server', 'fastapi', 'sqlalchemy', 'alembic', 'uvicorn',"
        " 'starlette', 'asyncpg', 'jinja2'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("hatchet_trace_flags-*.whl")
    return built


def test_wheel_ships_two_distinctly_named_packages_and_no_top_level_server(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"hatchet_trace_flags", "hatchet_trace_flags_server"}
    for needed in [
        "hatchet_trace_flags/py.typed",
        "hatchet_trace_flags/contract/rules.schema.json",
        "hatchet_trace_flags_server/py.typed",
    ]:
        assert needed in names
    assert any(name.startswith("hatchet_trace_flags_server/store/migrations/") for name in names)
    assert any(name.startswith("hatchet_trace_flags_server/dashboard/templates/") for name in names)
    assert any(name.startswith("hatchet_trace_flags_server/dashboard/static/") for name in names)


def test_service_dependencies_are_an_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [metadata_name] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    requirements = metadata.get_all("Requires-Dist") or []
    unconditional = {
        req.split(";")[0].split("[")[0].split(">")[0].split("<")[0].strip().lower()
        for req in requirements
        if "extra ==" not in req
    }
    assert {"fastapi", "sqlalchemy", "uvicorn", "alembic", "asyncpg"}.isdisjoint(unconditional)
    assert "hatchet-sdk" in unconditional
    assert any("fastapi" in req and "extra == 'server'" in req.replace('"', "'") for req in requirements)

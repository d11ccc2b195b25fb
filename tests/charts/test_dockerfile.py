"""Static contract of server/Dockerfile (no Docker engine here; hadolint is not available either).

The image must agree with the chart: same uid, same entry point and arguments, same port and data
directory, and it must be buildable from the files .dockerignore lets into the context.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib

import pytest

from tests.support.charts.chart import REPO_ROOT, Release
from tests.support.charts.dockerfile import (
    DOCKERIGNORE,
    Instruction,
    base_images,
    default_args,
    entry_point,
    final,
    final_stage,
    image_env,
    instructions_named,
    parse_dockerfile,
)


def test_multi_stage_build_on_a_pinned_slim_python() -> None:
    images = base_images()
    assert len(images) >= 2, "build and runtime stages"
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.fullmatch(r">=(\d+\.\d+)", requires)
    assert minor
    for image in images:
        assert "latest" not in image
        assert re.fullmatch(
            rf"python:{re.escape(minor[1])}\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{{64}})?", image
        ), f"{image} is not a version-pinned slim Python {minor[1]} image"
    assert any("--from=" in i.args for i in final_stage() if i.name == "COPY"), (
        "the runtime stage copies the built environment instead of building it"
    )


def test_runs_as_the_chart_uid(sqlite: Release) -> None:
    user = final("USER").args
    assert user.split(":")[0] == "10001", "numeric uid, so that runAsNonRoot can verify it"
    assert int(user.split(":")[0]) == sqlite.container["securityContext"]["runAsUser"]
    assert "USER" not in {i.name for i in final_stage()[final_stage().index(final("USER")) + 1 :]}


def test_entry_point_is_the_console_script_and_the_chart_passes_serve(sqlite: Release) -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (command,) = entry_point()
    assert command in scripts
    assert default_args() == ["serve"]
    assert sqlite.container["args"] == ["serve"]
    assert "command" not in sqlite.container, "the chart must keep the image's entry point"


def test_environment_matches_the_chart(sqlite: Release) -> None:
    env = image_env()
    assert env["HATCHET_TRACE_FLAGS_HOST"] == "0.0.0.0"
    port = env["HATCHET_TRACE_FLAGS_PORT"]
    assert final("EXPOSE").args == port
    assert {"name": "http", "containerPort": int(port), "protocol": "TCP"} in sqlite.container["ports"]
    assert env["HATCHET_TRACE_FLAGS_DATA_DIR"] == sqlite.mount("data")["mountPath"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "the root filesystem is read-only at runtime"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_data_dir_is_the_only_directory_prepared_for_writing() -> None:
    env = image_env()
    assert json.loads(final("VOLUME").args) == [env["HATCHET_TRACE_FLAGS_DATA_DIR"]]
    run = " ".join(i.args for i in final_stage() if i.name == "RUN")
    assert f"chown 10001:10001 {env['HATCHET_TRACE_FLAGS_DATA_DIR']}" in run


def _ignored(path: str, patterns: list[str]) -> bool:
    # .dockerignore semantics: the last matching pattern wins; `!` re-includes.
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, glob) for prefix in prefixes) or (
            glob.startswith("**/") and any(fnmatch.fnmatch(part, glob[3:]) for part in parts)
        ):
            ignored = not negated
    return ignored


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_build_context_holds_what_the_build_copies(ignore_patterns: list[str]) -> None:
    sources = [
        source
        for instruction in instructions_named("COPY")
        if "--from=" not in instruction.args
        for source in instruction.args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not _ignored(source, ignore_patterns), f"{source} is excluded by .dockerignore"


@pytest.mark.parametrize(
    "path", [".venv/bin/python", ".git/config", "tests/conftest.py", "data/flags.db", "charts/x"]
)
def test_build_context_leaves_out_local_state(ignore_patterns: list[str], path: str) -> None:
    assert _ignored(path, ignore_patterns)


def test_parser_reads_continued_lines() -> None:
    parsed = parse_dockerfile("FROM a AS b\n# note\nRUN one \\\n  # inner\n  && two\nUSER 1\n")
    assert parsed == [
        Instruction("FROM", "a AS b"),
        Instruction("RUN", "one && two"),
        Instruction("USER", "1"),
    ]

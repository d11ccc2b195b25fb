"""Static contract of server/Dockerfile (no Docker engine here; hadolint is not available either).

The image must agree with the chart: same uid, same entry point and arguments, same port and data
directory, and it must be buildable from the files .dockerignore lets into the context.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass

import pytest

from tests.charts.conftest import REPO_ROOT, Release

DOCKERFILE = REPO_ROOT / "server" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    name: str
    args: str

    def exec_form(self) -> list[str]:
        parsed = json.loads(self.args)
        assert isinstance(parsed, list), f"{self.name} must use the exec (JSON) form"
        return [str(item) for item in parsed]


def parse_dockerfile(text: str) -> list[Instruction]:
    instructions = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if stripped.endswith("\\"):
            logical += stripped[:-1].rstrip() + " "
            continue
        logical += stripped
        name, _, args = logical.partition(" ")
        instructions.append(Instruction(name.upper(), args.strip()))
        logical = ""
    assert not logical, "Dockerfile ends inside a continued line"
    return instructions


def parse_env(args: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in args.split())


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def _all(name: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.name == name]


def _final_stage() -> list[Instruction]:
    last_from = max(index for index, i in enumerate(INSTRUCTIONS) if i.name == "FROM")
    return INSTRUCTIONS[last_from:]


def _final(name: str) -> Instruction:
    return [i for i in _final_stage() if i.name == name][-1]


def image_env() -> dict[str, str]:
    """The environment the final image starts its entry point with."""
    env: dict[str, str] = {}
    for instruction in _final_stage():
        if instruction.name == "ENV":
            env.update(parse_env(instruction.args))
    return env


def entry_point() -> list[str]:
    return _final("ENTRYPOINT").exec_form()


def default_args() -> list[str]:
    return _final("CMD").exec_form()


def _base_images() -> list[str]:
    build_args = {}
    for instruction in INSTRUCTIONS:
        if instruction.name == "FROM":
            break
        if instruction.name == "ARG":
            key, _, default = instruction.args.partition("=")
            build_args[key] = default
    images = []
    for instruction in _all("FROM"):
        image = instruction.args.split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: build_args[m[1]], image))
    return images


def test_multi_stage_build_on_a_pinned_slim_python() -> None:
    images = _base_images()
    assert len(images) >= 2, "build and runtime stages"
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.fullmatch(r">=(\d+\.\d+)", requires)
    assert minor
    for image in images:
        assert "latest" not in image
        assert re.fullmatch(
            rf"python:{re.escape(minor[1])}\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{{64}})?", image
        ), f"{image} is not a version-pinned slim Python {minor[1]} image"
    assert any("--from=" in i.args for i in _final_stage() if i.name == "COPY"), (
        "the runtime stage copies the built environment instead of building it"
    )


def test_runs_as_the_chart_uid(sqlite: Release) -> None:
    user = _final("USER").args
    assert user.split(":")[0] == "10001", "numeric uid, so that runAsNonRoot can verify it"
    assert int(user.split(":")[0]) == sqlite.container["securityContext"]["runAsUser"]
    assert "USER" not in {i.name for i in _final_stage()[_final_stage().index(_final("USER")) + 1 :]}


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
    assert _final("EXPOSE").args == port
    assert {"name": "http", "containerPort": int(port), "protocol": "TCP"} in sqlite.container["ports"]
    assert env["HATCHET_TRACE_FLAGS_DATA_DIR"] == sqlite.mount("data")["mountPath"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "the root filesystem is read-only at runtime"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_data_dir_is_the_only_directory_prepared_for_writing() -> None:
    env = image_env()
    assert json.loads(_final("VOLUME").args) == [env["HATCHET_TRACE_FLAGS_DATA_DIR"]]
    run = " ".join(i.args for i in _final_stage() if i.name == "RUN")
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
        for instruction in _all("COPY")
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

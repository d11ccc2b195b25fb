"""Reads server/Dockerfile the way the Docker builder does, for the tests that check its contract."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tests.support.charts.chart import REPO_ROOT

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


def instructions_named(name: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.name == name]


def final_stage() -> list[Instruction]:
    last_from = max(index for index, i in enumerate(INSTRUCTIONS) if i.name == "FROM")
    return INSTRUCTIONS[last_from:]


def final(name: str) -> Instruction:
    return [i for i in final_stage() if i.name == name][-1]


def image_env() -> dict[str, str]:
    """The environment the final image starts its entry point with."""
    env: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.name == "ENV":
            env.update(parse_env(instruction.args))
    return env


def entry_point() -> list[str]:
    return final("ENTRYPOINT").exec_form()


def default_args() -> list[str]:
    return final("CMD").exec_form()


def base_images() -> list[str]:
    build_args = {}
    for instruction in INSTRUCTIONS:
        if instruction.name == "FROM":
            break
        if instruction.name == "ARG":
            key, _, default = instruction.args.partition("=")
            build_args[key] = default
    images = []
    for instruction in instructions_named("FROM"):
        image = instruction.args.split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: build_args[m[1]], image))
    return images

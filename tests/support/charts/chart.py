"""Renders the chart once per scenario (`ci/*-values.yaml`) with the real Helm library."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.support.paths import REPO

REPO_ROOT = REPO
CHART_DIR = REPO_ROOT / "charts" / "hatchet-trace-flags"
RELEASE = "flags"
NAMESPACE = "flags-ns"
FULLNAME = f"{RELEASE}-hatchet-trace-flags"
SCENARIOS = sorted(path.name.removesuffix("-values.yaml") for path in CHART_DIR.glob("ci/*-values.yaml"))


def _oldest_supported_kube() -> str:
    kube_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.\d+(-0)?", kube_version)
    assert match, f"Chart.yaml kubeVersion {kube_version!r} is not a plain lower bound"
    return f"{match[1]}.{match[2]}"


# The range the chart promises: its kubeVersion floor and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = (
    _oldest_supported_kube(),
    kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version()),
)


def scenario_values(scenario: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART_DIR / "ci" / f"{scenario}-values.yaml").read_text())
    return values


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge, as Helm coalesces values (a nested mapping in `override` does not replace)."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


@dataclass(frozen=True)
class Release:
    """A rendered release: manifests by template path and the objects they contain."""

    manifests: Mapping[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_manifests(cls, manifests: Mapping[str, str]) -> Release:
        objects = [
            document
            for path, text in sorted(manifests.items())
            if not path.endswith("NOTES.txt")
            for document in yaml.safe_load_all(text)
            if document
        ]
        return cls(manifests=manifests, objects=objects)

    @property
    def notes(self) -> str:
        return next(text for path, text in self.manifests.items() if path.endswith("NOTES.txt"))

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def has(self, kind: str) -> bool:
        return bool(self.all(kind))

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.deployment["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.pod_spec["containers"]
        (container,) = containers
        return container

    @property
    def test_pod(self) -> dict[str, Any]:
        (pod,) = [
            pod
            for pod in self.all("Pod")
            if pod["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
        ]
        return pod

    @property
    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap")["data"]
        return data

    def volume(self, name: str) -> dict[str, Any]:
        volumes: list[dict[str, Any]] = self.pod_spec["volumes"]
        (volume,) = [v for v in volumes if v["name"] == name]
        return volume

    def mount(self, name: str) -> dict[str, Any]:
        mounts: list[dict[str, Any]] = self.container["volumeMounts"]
        (mount,) = [m for m in mounts if m["name"] == name]
        return mount


def render(values: dict[str, Any] | None = None) -> Release:
    with helm.Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return Release.from_manifests(manifests)


@pytest.fixture(scope="session")
def releases() -> dict[str, Release]:
    """Every scenario, rendered once for the whole session."""
    return {scenario: render(scenario_values(scenario)) for scenario in SCENARIOS}


@pytest.fixture(scope="session")
def render_chart() -> Callable[[dict[str, Any] | None], Release]:
    """Render ad-hoc values (for the cases no scenario file covers)."""
    return render


@pytest.fixture(scope="session")
def sqlite(releases: dict[str, Release]) -> Release:
    return releases["sqlite"]


@pytest.fixture(scope="session")
def postgresql(releases: dict[str, Release]) -> Release:
    return releases["postgresql"]


@pytest.fixture(scope="session")
def existing_secrets(releases: dict[str, Release]) -> Release:
    return releases["existing-secrets"]


@pytest.fixture(scope="session")
def ephemeral(releases: dict[str, Release]) -> Release:
    return releases["ephemeral"]

"""values.schema.json: self-contained, accepts every scenario, rejects impossible combinations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest

from tests.support.charts.chart import CHART_DIR, SCENARIOS, merged, scenario_values


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def _validate(chart: helm.Chart, values: dict[str, Any]) -> None:
    # What `helm install` validates: the user's values coalesced with the chart's defaults.
    chart.validate_schema(chart.merge_values(values))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_schema_is_self_contained() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert [ref for ref in _refs(schema) if not ref.startswith("#")] == []


@pytest.mark.parametrize("scenario", [*SCENARIOS, "defaults"])
def test_scenarios_and_defaults_are_accepted(chart: helm.Chart, scenario: str) -> None:
    _validate(chart, {} if scenario == "defaults" else scenario_values(scenario))


POSTGRESQL = {"database": {"type": "postgresql", "postgresql": {"existingSecret": "db"}}}
TOKENS = {"auth": {"adminTokens": "ops:secret-0123456789abcdefghijklmn"}}

REJECTED: dict[str, tuple[dict[str, Any], str]] = {
    "sqlite-with-two-replicas": ({"replicaCount": 2}, "/replicaCount"),
    "sqlite-with-an-autoscaler": ({"autoscaling": {"enabled": True}}, "/autoscaling/enabled"),
    "sqlite-with-a-disruption-budget": (
        {"podDisruptionBudget": {"enabled": True}},
        "/podDisruptionBudget/enabled",
    ),
    "postgresql-without-url-secret": (
        {"database": {"type": "postgresql"}},
        "/database/postgresql/existingSecret",
    ),
    "unknown-database": ({"database": {"type": "mysql"}}, "/database/type"),
    "misspelt-top-level-value": ({"replicas": 3}, "'replicas' not allowed"),
    "misspelt-nested-value": ({"persistence": {"storageclass": "x"}}, "'storageclass' not allowed"),
    "token-without-name": ({"auth": {"adminTokens": "just-a-token"}}, "/auth/adminTokens"),
    "token-with-space": ({"auth": {"readTokens": "ci:two words"}}, "/auth/readTokens"),
    "token-too-short": ({"auth": {"adminTokens": "ops:s3cret"}}, "/auth/adminTokens"),
    "ingress-without-hosts": ({"ingress": {"enabled": True, "hosts": []}}, "/ingress/hosts"),
    "httproute-without-gateway": ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
    "bad-claim-size": ({"persistence": {"size": "lots"}}, "/persistence/size"),
    "bad-digest": ({"image": {"digest": "latest"}}, "/image/digest"),
    "unknown-log-level": ({"logLevel": "verbose"}, "/logLevel"),
    "bad-pdb-percentage": (
        merged(POSTGRESQL, {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "half"}}),
        "/podDisruptionBudget/maxUnavailable",
    ),
}


@pytest.mark.parametrize(("values", "where"), REJECTED.values(), ids=REJECTED.keys())
def test_impossible_values_are_rejected(chart: helm.Chart, values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        _validate(chart, merged(TOKENS, values))
    assert where in str(raised.value)


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 3},
        {"autoscaling": {"enabled": True}},
        {"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}},
    ],
    ids=["replicas", "autoscaler", "disruption-budget"],
)
def test_postgresql_allows_what_sqlite_does_not(chart: helm.Chart, values: dict[str, Any]) -> None:
    _validate(chart, merged(merged(TOKENS, POSTGRESQL), values))


def test_install_refuses_sqlite_with_replicas(chart: helm.Chart) -> None:
    """The schema is enforced on install itself, not only by a separate validation step."""
    with pytest.raises(helm.HelmValuesError, match="/replicaCount"):
        chart.render(merged(TOKENS, {"replicaCount": 2}), name="flags", is_install=True)

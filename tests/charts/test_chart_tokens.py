"""API tokens with no values at all: generated on first install, kept across upgrades, explained in NOTES.

Upgrades are rendered by Helm itself against a stand-in Kubernetes API (tests/charts/kube_api.py), so
the chart's real `lookup` reads the Secret an earlier revision stored.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import helm_python as helm

from tests.support.charts.chart import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    Release,
    merged,
    scenario_values,
)
from tests.support.charts.kube_api import KubeAPI, cluster

SECRET = f"{FULLNAME}-auth"
GENERATED = re.compile(r"(admin|workers):[A-Za-z0-9]{48}")


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def upgrade(api: KubeAPI, values: dict[str, Any]) -> Release:
    with cluster(api, NAMESPACE) as config, helm.Chart.load(CHART_DIR) as chart:
        manifests = config.render(
            chart, values, name=RELEASE, namespace=NAMESPACE, is_upgrade=True, revision=2
        )
    return Release.from_manifests(manifests)


def checksum(release: Release) -> str:
    annotations: dict[str, str] = release.deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations["checksum/auth"]


def test_an_install_with_zero_values_generates_both_tokens(releases: dict[str, Release]) -> None:
    zero = releases["zero"]
    tokens = decoded(zero.one("Secret"))
    assert tokens.keys() == {"admin-tokens", "read-tokens"}
    assert GENERATED.fullmatch(tokens["admin-tokens"])
    assert tokens["admin-tokens"].startswith("admin:")
    assert tokens["read-tokens"].startswith("workers:")
    assert zero.volume("auth")["secret"]["secretName"] == SECRET
    assert [item["key"] for item in zero.volume("auth")["secret"]["items"]] == ["admin-tokens", "read-tokens"]
    assert "HATCHET_TRACE_FLAGS_READ_TOKENS_FILE" in zero.config
    # Two installs, two different secrets.
    with helm.Chart.load(CHART_DIR) as chart:
        other = Release.from_manifests(chart.render({}, name=RELEASE, namespace=NAMESPACE, is_install=True))
    assert decoded(other.one("Secret"))["admin-tokens"] != tokens["admin-tokens"]


def test_the_notes_say_how_to_read_generated_tokens_and_where_they_cannot_be_kept(
    releases: dict[str, Release],
) -> None:
    notes = releases["zero"].notes
    assert f"get secret {SECRET}" in notes
    assert "{.data.admin-tokens}" in notes
    assert "{.data.read-tokens}" in notes
    assert "generated on first install; upgrades keep them" in notes
    assert "helm template" in notes
    assert "auth.existingSecret" in notes
    assert "HATCHET_TRACE_FLAGS_CLI_TOKEN" in notes
    assert f"HATCHET_TRACE_FLAGS_URL=http://{FULLNAME}.{NAMESPACE}.svc:8080" in notes
    given = releases["sqlite"].notes  # both tokens given: nothing generated
    assert "generated" not in given
    assert "stored in the release history" in given
    assert "generated" not in releases["existing-secrets"].notes


def test_an_upgrade_keeps_the_tokens_the_install_generated(releases: dict[str, Release]) -> None:
    installed = releases["zero"].one("Secret")
    api = KubeAPI()
    api.store(installed)

    first, second = upgrade(api, {}), upgrade(api, {})

    assert decoded(first.one("Secret")) == decoded(installed)
    assert first.one("Secret")["data"] == second.one("Secret")["data"]
    assert checksum(first) == checksum(second)  # so an unrelated upgrade does not roll the pods
    assert f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}" in [path.split("?")[0] for path in api.requests]


def test_given_tokens_win_over_stored_ones_key_by_key(releases: dict[str, Release]) -> None:
    installed = decoded(releases["zero"].one("Secret"))
    api = KubeAPI()
    api.store(releases["zero"].one("Secret"))

    upgraded = decoded(
        upgrade(api, {"auth": {"adminTokens": "ops:rotated-admin-0123456789abcdefghij"}}).one("Secret")
    )

    assert upgraded == {
        "admin-tokens": "ops:rotated-admin-0123456789abcdefghij",
        "read-tokens": installed["read-tokens"],
    }


def test_an_upgrade_with_nothing_stored_generates_new_tokens() -> None:
    """What an offline render (`helm template`, Argo CD) gets: the reason NOTES recommend existingSecret."""
    upgraded = decoded(upgrade(KubeAPI(), {}).one("Secret"))
    assert GENERATED.fullmatch(upgraded["admin-tokens"])
    assert GENERATED.fullmatch(upgraded["read-tokens"])


def test_an_existing_secret_is_never_looked_up_nor_generated() -> None:
    api = KubeAPI()
    release = upgrade(api, merged(scenario_values("existing-secrets"), {}))
    assert not release.has("Secret")
    assert not any("/secrets/" in path for path in api.requests)

"""The hardened pod spec, asserted on every rendered pod (the server and the `helm test` pod)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.charts.chart import SCENARIOS, Release

# The only paths a container may write to; everything else is the read-only root filesystem.
WRITABLE_PATHS = {"/tmp", "/data"}
# Volume types the Pod Security Standards' restricted profile allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _pod_specs(release: Release) -> list[tuple[str, dict[str, Any]]]:
    return [("server", release.pod_spec), ("helm-test", release.test_pod["spec"])]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pods_are_hardened(releases: dict[str, Release], scenario: str) -> None:
    for which, spec in _pod_specs(releases[scenario]):
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True, which
        assert pod_context["runAsUser"] == 10001, which
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, which
        assert spec["automountServiceAccountToken"] is False, which
        assert spec["enableServiceLinks"] is False, which
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (which, key)
        for volume in spec.get("volumes", []):
            assert volume.keys() - {"name"} <= RESTRICTED_VOLUME_TYPES, (which, volume)

        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, which
            assert context["readOnlyRootFilesystem"] is True, which
            assert context["allowPrivilegeEscalation"] is False, which
            assert context["privileged"] is False, which
            assert context["capabilities"] == {"drop": ["ALL"]}, which
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, which
            assert container["resources"]["requests"], which
            assert container["resources"]["limits"]["memory"], which
            assert not container["image"].endswith(":latest"), which


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_tmp_and_the_data_volume_are_writable(releases: dict[str, Release], scenario: str) -> None:
    release = releases[scenario]
    writable = {m["mountPath"] for m in release.container["volumeMounts"] if not m.get("readOnly")}
    assert "/tmp" in writable
    assert writable <= WRITABLE_PATHS
    tmp_volume = release.volume(release.mount("tmp")["name"])
    assert tmp_volume["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_service_account_token_is_not_mounted(releases: dict[str, Release], scenario: str) -> None:
    release = releases[scenario]
    account = release.one("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert release.pod_spec["serviceAccountName"] == account["metadata"]["name"]


def test_token_files_are_read_only_and_not_world_readable(sqlite: Release) -> None:
    assert sqlite.mount("auth")["readOnly"] is True
    assert sqlite.volume("auth")["secret"]["defaultMode"] == 0o440
    # Group-readable works because the kubelet gives secret files the pod's fsGroup.
    assert sqlite.pod_spec["securityContext"]["fsGroup"] == 10001

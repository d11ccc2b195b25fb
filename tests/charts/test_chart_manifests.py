"""What the chart renders: valid Kubernetes objects, and the behaviour each scenario promises."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.support.charts.chart import (
    FULLNAME,
    KUBE_VERSIONS,
    NAMESPACE,
    SCENARIOS,
    Release,
    merged,
    scenario_values,
)

# Kinds from CRDs, which kubernetes-validate has no schema for: checked field by field below.
CRD_KINDS = {"ServiceMonitor", "HTTPRoute"}

Render = Callable[[dict[str, Any] | None], Release]


def _env(release: Release) -> dict[str, Any]:
    return {entry["name"]: entry for entry in release.container.get("env", [])}


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_is_valid_kubernetes(releases: dict[str, Release], scenario: str, kube: str) -> None:
    unvalidated = []
    for obj in releases[scenario].objects:
        try:
            kubernetes_validate.validate(obj, kube, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unvalidated.append(obj["kind"])
    assert set(unvalidated) <= CRD_KINDS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_objects_live_in_the_release_namespace_with_dns_safe_names(
    releases: dict[str, Release], scenario: str
) -> None:
    for obj in releases[scenario].objects:
        assert obj["metadata"]["namespace"] == NAMESPACE
        assert len(obj["metadata"]["name"]) <= 63


def test_sqlite_runs_one_pod_on_a_created_claim_and_never_overlaps(sqlite: Release) -> None:
    spec = sqlite.deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    claim = sqlite.one("PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "storageClassName" not in claim["spec"]
    assert sqlite.volume("data")["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert sqlite.mount("data")["mountPath"] == sqlite.config["HATCHET_TRACE_FLAGS_DATA_DIR"] == "/data"
    assert "HATCHET_TRACE_FLAGS_DATABASE_URL" not in _env(sqlite)
    assert not sqlite.has("HorizontalPodAutoscaler")
    assert not sqlite.has("PodDisruptionBudget")


@pytest.mark.parametrize(("storage_class", "expected"), [("fast-ssd", "fast-ssd"), ("-", "")])
def test_storage_class(render_chart: Render, storage_class: str, expected: str) -> None:
    values = merged(
        scenario_values("sqlite"), {"persistence": {"storageClass": storage_class, "size": "5Gi"}}
    )
    claim = render_chart(values).one("PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == expected
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_existing_claim_and_token_secret_are_used_not_created(existing_secrets: Release) -> None:
    assert not existing_secrets.has("PersistentVolumeClaim")
    assert not existing_secrets.has("Secret")
    assert existing_secrets.volume("data")["persistentVolumeClaim"]["claimName"] == "flags-data"
    auth = existing_secrets.volume("auth")["secret"]
    assert auth["secretName"] == "flags-tokens"
    assert auth["items"] == [
        {"key": "admins", "path": "admin-tokens"},
        {"key": "readers", "path": "read-tokens"},
    ]
    tokens_dir = existing_secrets.mount("auth")["mountPath"]
    assert existing_secrets.mount("auth")["readOnly"] is True
    assert existing_secrets.config["HATCHET_TRACE_FLAGS_ADMIN_TOKENS_FILE"] == f"{tokens_dir}/admin-tokens"
    assert existing_secrets.config["HATCHET_TRACE_FLAGS_READ_TOKENS_FILE"] == f"{tokens_dir}/read-tokens"


def test_an_existing_secret_without_read_tokens(render_chart: Render) -> None:
    release = render_chart({"auth": {"existingSecret": "t", "existingSecretReadTokensKey": ""}})
    assert release.volume("auth")["secret"]["items"] == [{"key": "admin-tokens", "path": "admin-tokens"}]
    assert "HATCHET_TRACE_FLAGS_READ_TOKENS_FILE" not in release.config


def test_tokens_from_values_go_to_a_secret_and_never_to_a_configmap(sqlite: Release) -> None:
    values = scenario_values("sqlite")["auth"]
    secret = sqlite.one("Secret")
    assert base64.b64decode(secret["data"]["admin-tokens"]).decode() == values["adminTokens"]
    assert base64.b64decode(secret["data"]["read-tokens"]).decode() == values["readTokens"]
    assert sqlite.volume("auth")["secret"]["secretName"] == secret["metadata"]["name"]
    for obj in sqlite.objects:
        if obj["kind"] != "Secret":
            rendered = str(obj)
            assert values["adminTokens"] not in rendered
            assert values["readTokens"] not in rendered


def test_postgresql_scales_out_behind_a_budget_and_an_autoscaler(postgresql: Release) -> None:
    spec = postgresql.deployment["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert _env(postgresql)["HATCHET_TRACE_FLAGS_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "flags-postgresql", "key": "url"}
    }
    assert "HATCHET_TRACE_FLAGS_DATA_DIR" not in postgresql.config
    assert not postgresql.has("PersistentVolumeClaim")
    assert "data" not in {volume["name"] for volume in postgresql.pod_spec["volumes"]}

    hpa = postgresql.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 80, "memory": 85}

    pdb = postgresql.one("PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 2
    assert "maxUnavailable" not in pdb
    assert pdb["selector"] == spec["selector"]


def test_postgresql_without_autoscaler_sets_the_replica_count(render_chart: Render) -> None:
    values = merged(scenario_values("postgresql"), {"autoscaling": {"enabled": False}})
    assert render_chart(values).deployment["spec"]["replicas"] == 3


def test_service_selects_the_server_pods_but_not_the_test_pod(postgresql: Release) -> None:
    service = postgresql.one("Service")
    selector = service["spec"]["selector"]
    pod_labels = postgresql.deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert selector == postgresql.deployment["spec"]["selector"]["matchLabels"]
    assert not selector.items() <= postgresql.test_pod["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["targetPort"]) == ("http", "http")
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in postgresql.container["ports"]


def test_ingress_and_httproute_reach_the_service(postgresql: Release) -> None:
    service_port = postgresql.one("Service")["spec"]["ports"][0]["port"]
    ingress = postgresql.one("Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "flags-tls", "hosts": ["flags.example.com"]}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "flags.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": FULLNAME, "port": {"name": "http"}}}

    route = postgresql.one("HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {"name": "public", "namespace": "gateway-system", "sectionName": "https"}
    ]
    assert route["spec"]["hostnames"] == ["flags.example.com"]
    (route_rule,) = route["spec"]["rules"]
    assert route_rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert route_rule["backendRefs"] == [{"name": FULLNAME, "port": service_port}]


def test_network_policy_admits_clients_and_extra_peers_and_limits_egress(postgresql: Release) -> None:
    policy = postgresql.one("NetworkPolicy")["spec"]
    assert policy["podSelector"] == postgresql.deployment["spec"]["selector"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    own_rule, extra_rule = policy["ingress"]
    assert own_rule["from"] == [{"podSelector": {"matchLabels": {f"{FULLNAME}-client": "true"}}}]
    assert own_rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert extra_rule == scenario_values("postgresql")["networkPolicy"]["extraIngress"][0]
    test_pod_labels = postgresql.test_pod["metadata"]["labels"]
    assert test_pod_labels[f"{FULLNAME}-client"] == "true", "helm test must get through the policy"
    dns, database = policy["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert database["ports"] == [{"port": 5432, "protocol": "TCP"}]


def test_network_policy_defaults_restrict_only_the_port(render_chart: Render) -> None:
    policy = render_chart(merged(scenario_values("sqlite"), {"networkPolicy": {"enabled": True}})).one(
        "NetworkPolicy"
    )["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_service_monitor_scrapes_metrics_of_this_service(postgresql: Release) -> None:
    monitor = postgresql.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= postgresql.one("Service")["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_optional_objects_are_off_unless_enabled(releases: dict[str, Release], scenario: str) -> None:
    values = scenario_values(scenario)
    release = releases[scenario]
    switches = {
        "Ingress": values.get("ingress", {}).get("enabled", False),
        "HTTPRoute": values.get("httpRoute", {}).get("enabled", False),
        "NetworkPolicy": values.get("networkPolicy", {}).get("enabled", False),
        "ServiceMonitor": values.get("metrics", {}).get("serviceMonitor", {}).get("enabled", False),
        "PodDisruptionBudget": values.get("podDisruptionBudget", {}).get("enabled", False),
        "HorizontalPodAutoscaler": values.get("autoscaling", {}).get("enabled", False),
    }
    assert {kind: release.has(kind) for kind in switches} == switches


def test_probes_use_health_for_startup_and_liveness_and_ready_for_readiness(sqlite: Release) -> None:
    container = sqlite.container
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_helm_test_pod_calls_readyz_through_the_service(sqlite: Release) -> None:
    pod = sqlite.test_pod
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == sqlite.container["image"]
    port = sqlite.one("Service")["spec"]["ports"][0]["port"]
    assert container["command"][-1] == f"http://{FULLNAME}:{port}/readyz"


def test_image_reference(render_chart: Render) -> None:
    digest = "sha256:" + "a" * 64
    assert render_chart(scenario_values("sqlite")).container["image"].endswith("/hatchet-trace-flags:0.1.0")
    pinned = render_chart(merged(scenario_values("sqlite"), {"image": {"tag": "1.2.3", "digest": digest}}))
    assert pinned.container["image"] == f"example.invalid/hatchet-trace-flags:1.2.3@{digest}"


def _checksums(release: Release) -> dict[str, str]:
    annotations: dict[str, str] = release.deployment["spec"]["template"]["metadata"]["annotations"]
    return {key: value for key, value in annotations.items() if key.startswith("checksum/")}


def test_pods_roll_when_the_config_or_the_token_secret_changes(render_chart: Render) -> None:
    base = scenario_values("sqlite")
    before = _checksums(render_chart(base))
    assert before.keys() == {"checksum/config", "checksum/auth"}

    new_token = _checksums(
        render_chart(merged(base, {"auth": {"adminTokens": "ops:rotated-0123456789abcdefghijklmn"}}))
    )
    new_log_level = _checksums(render_chart(merged(base, {"logLevel": "debug"})))
    unrelated = _checksums(render_chart(merged(base, {"service": {"annotations": {"a": "b"}}})))

    assert new_token["checksum/auth"] != before["checksum/auth"]
    assert new_token["checksum/config"] == before["checksum/config"]
    assert new_log_level["checksum/config"] != before["checksum/config"]
    assert unrelated == before


def test_notes_tell_how_to_reach_the_dashboard_and_get_the_token(
    sqlite: Release, postgresql: Release, existing_secrets: Release
) -> None:
    assert f"port-forward service/{FULLNAME} 8080:8080" in sqlite.notes
    assert f"get secret {FULLNAME}-auth" in sqlite.notes
    assert "{.data.admin-tokens}" in sqlite.notes
    assert "https://flags.example.com/" in postgresql.notes
    assert "get secret flags-tokens" in existing_secrets.notes
    assert "{.data.admins}" in existing_secrets.notes


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_notes_warn_exactly_when_storage_is_ephemeral(releases: dict[str, Release], scenario: str) -> None:
    release = releases[scenario]
    ephemeral = any("emptyDir" in v for v in release.pod_spec["volumes"] if v["name"] == "data")
    assert ("WARNING: persistence.enabled=false" in release.notes) == ephemeral
    assert ephemeral == (scenario == "ephemeral")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            merged(
                scenario_values("postgresql"),
                {"autoscaling": {"enabled": True, "minReplicas": 4, "maxReplicas": 3}},
            ),
            "minReplicas (4) must not exceed maxReplicas (3)",
        ),
    ],
    ids=["autoscaler-min-above-max"],
)
def test_render_refuses_what_the_schema_cannot_express(
    render_chart: Render, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render_chart(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "127.0.0.1"),
        ({"ingress": {"enabled": True}}, "*"),
        ({"ingress": {"enabled": True}, "trustedProxies": "10.0.0.0/8"}, "10.0.0.0/8"),
    ],
)
def test_trusted_proxies_follow_the_ingress_unless_set(
    render_chart: Render, values: dict[str, object], expected: str
) -> None:
    config = render_chart(merged(scenario_values("sqlite"), values)).one("ConfigMap")
    assert config["data"]["HATCHET_TRACE_FLAGS_FORWARDED_ALLOW_IPS"] == expected
    # Issue 27: under "*" the client is the right-most X-Forwarded-For entry (one proxy), never the
    # left-most one the client wrote itself.
    assert config["data"]["HATCHET_TRACE_FLAGS_FORWARDED_HOPS"] == "1"


def test_proxy_hops_reach_the_service(render_chart: Render) -> None:
    values = merged(scenario_values("sqlite"), {"ingress": {"enabled": True}, "proxyHops": 2})
    config = render_chart(values).one("ConfigMap")
    assert config["data"]["HATCHET_TRACE_FLAGS_FORWARDED_HOPS"] == "2"

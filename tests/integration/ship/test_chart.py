"""The Helm chart against the real helm, kubernetes-validate's 1.35 schemas and promtool."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from healthgate_operator import config
from tests.integration.ship.conftest import (
    CHART,
    CI_VALUES,
    DEPLOY,
    FOREIGN_KINDS,
    KUBE_VERSION,
    MONITORING_API,
    Json,
    api_versions_for,
    by_kind,
)

pytestmark = pytest.mark.integration
Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[Json]]
SCENARIOS = [None, *CI_VALUES]
IDS = ["defaults", *(p.stem for p in CI_VALUES)]


def test_ci_scenarios_exist() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"default-values.yaml", "monitoring-values.yaml", "custom-cert-values.yaml"} <= names


@pytest.mark.parametrize("values", SCENARIOS, ids=IDS)
def test_helm_lint_strict(helm: Helm, values: Path | None) -> None:
    args: list[str | Path] = ["lint", CHART, "--strict", "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["-f", values]
    proc = helm(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values", SCENARIOS, ids=IDS)
def test_rendered_objects_match_kubernetes_schemas(render: Render, values: Path | None) -> None:
    objects = render(values, api_versions=api_versions_for(values))
    checked = 0
    for obj in objects:
        if obj["kind"] in FOREIGN_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        checked += 1
    assert checked >= 7, [o["kind"] for o in objects]


@pytest.mark.parametrize("values", SCENARIOS, ids=IDS)
def test_every_object_has_the_standard_labels(render: Render, values: Path | None) -> None:
    for obj in render(values, api_versions=api_versions_for(values)):
        labels = obj["metadata"].get("labels") or {}
        for key in ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance"):
            assert key in labels, (obj["kind"], obj["metadata"]["name"], key)


def test_monitoring_objects_only_with_the_prometheus_operator(render: Render) -> None:
    plain = render()
    kinds = {o["kind"] for o in plain}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    annotations = by_kind(plain, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"

    monitored = render(api_versions=[MONITORING_API])
    kinds = {o["kind"] for o in monitored}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds
    annotations = by_kind(monitored, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in annotations


def test_dashboard_configmap_is_labelled_for_grafana(render: Render) -> None:
    (dashboard,) = [
        o for o in by_kind(render(), "ConfigMap") if "dashboard" in o["metadata"]["name"]
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["healthgate.json"].strip() == (
        (CHART / "files" / "dashboard.json").read_text().strip()
    )


def _args(objects: list[Json]) -> list[str]:
    args: list[str] = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    return args


def test_values_become_operator_flags(render: Render) -> None:
    args = _args(render())
    assert "--all-namespaces" in args
    assert "--webhook-failure-policy=Ignore" in args
    assert "--webhook-url=https://hg-healthgate.healthgate-system.svc:443" in args
    assert "--sidecar-image=ghcr.io/healthgate/healthgate:0.1.0" in args

    args = _args(render(CHART / "ci" / "fail-policy-values.yaml"))
    assert "--webhook-failure-policy=Fail" in args
    assert {"--namespace=shop", "--namespace=support"} <= set(args)
    assert "--all-namespaces" not in args

    args = _args(render(CHART / "ci" / "custom-cert-values.yaml"))
    assert "--sidecar-image=registry.example.com/healthgate/healthgate:0.1.0" in args


def test_sidecar_defaults_reach_the_operator(render: Render) -> None:
    """Values as the operator's real parser reads them from the rendered Deployment."""
    default = config.parse(_args(render()), environ={})
    assert default.sidecar.port == 8086
    assert default.sidecar.resources == config.OperatorConfig().sidecar.resources
    assert default.webhook.configuration == "healthgate.io"

    custom = config.parse(_args(render(CHART / "ci" / "custom-cert-values.yaml")), environ={})
    assert custom.sidecar.port == 9100
    assert custom.sidecar.resources == {
        "requests": {"cpu": "20m", "memory": "96Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_namespace_selector_lands_in_the_shipped_pod_webhook(render: Render) -> None:
    """Built-in exclusions first, then watchNamespaces, then the user's selector (ANDed)."""
    (default,) = by_kind(render(), "MutatingWebhookConfiguration")
    assert default["webhooks"][0]["namespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["healthgate-system", "kube-node-lease", "kube-public", "kube-system"],
            }
        ]
    }
    (strict,) = by_kind(
        render(CHART / "ci" / "fail-policy-values.yaml"), "MutatingWebhookConfiguration"
    )
    hook = strict["webhooks"][0]
    assert hook["failurePolicy"] == "Fail"
    assert hook["namespaceSelector"]["matchLabels"] == {"healthgate.io/inject": "enabled"}
    assert hook["namespaceSelector"]["matchExpressions"][1:] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop", "support"]},
        {"key": "tier", "operator": "NotIn", "values": ["batch"]},
    ]


def test_webhook_configurations_ship_with_the_chart_without_a_ca(render: Render) -> None:
    """The operator publishes the caBundle; rendering one would be undone by its patch."""
    objects = render(sets=["webhook.configurationName=hg.healthgate.io"])
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (hooks,) = by_kind(objects, kind)
        assert hooks["metadata"]["name"] == "hg.healthgate.io"
        for hook in hooks["webhooks"]:
            assert hook["clientConfig"]["service"]["name"] == "hg-healthgate"
            assert "caBundle" not in hook["clientConfig"]
    (role,) = [
        r for r in by_kind(objects, "ClusterRole") if r["metadata"]["name"] == "hg-healthgate"
    ]
    hooks_rule = next(
        r
        for r in role["rules"]
        if "resourceNames" in r
        and "patch" in r["verbs"]
        and r["apiGroups"] == ["admissionregistration.k8s.io"]
    )
    assert hooks_rule["resourceNames"] == ["hg.healthgate.io"]
    assert not any(
        "create" in r["verbs"]
        for r in role["rules"]
        if r["apiGroups"] == ["admissionregistration.k8s.io"]
    )


def test_the_operator_flags_parse(render: Render) -> None:
    """Every flag the chart passes is one the operator accepts (its real argument parser)."""
    for values in SCENARIOS:
        parsed = config.parse(_args(render(values)), environ={})
        assert parsed.endpoints.metrics_port == 8080
    # With the webhook flags too (cert and key exist only in the pod, parsing does not open them).
    parsed = config.parse(_args(render()), environ={})
    assert parsed.webhook.cert is not None
    assert parsed.webhook.failure_policy == "Ignore"


@pytest.mark.parametrize(
    ("values", "secret"),
    [
        (None, "hg-healthgate-webhook-tls"),
        (CHART / "ci" / "custom-cert-values.yaml", "healthgate-webhook-tls"),
        (CHART / "ci" / "cert-manager-values.yaml", "hg-healthgate-webhook-tls"),
    ],
    ids=["helm-generated", "user-secret", "cert-manager"],
)
def test_webhook_certificate_sources(render: Render, values: Path | None, secret: str) -> None:
    objects = render(values)
    volumes = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-tls", "secret": {"secretName": secret}} in volumes
    secrets = [o["metadata"]["name"] for o in by_kind(objects, "Secret")]
    secrets.remove("hg-healthgate-directive-key")  # every scenario: see the test below
    certificates = by_kind(objects, "Certificate")
    if values is None:
        assert secrets == [secret]
    elif "cert-manager" in values.name:
        assert secrets == []
        assert certificates[0]["spec"]["secretName"] == secret
        assert "hg-healthgate.healthgate-system.svc" in certificates[0]["spec"]["dnsNames"]
    else:
        assert secrets == []
        assert certificates == []


def test_generated_certificate_names_the_service_and_carries_its_ca(render: Render) -> None:
    (secret,) = [s for s in by_kind(render(), "Secret") if s["type"] == "kubernetes.io/tls"]
    chain = base64.b64decode(secret["data"]["tls.crt"])
    certs = x509.load_pem_x509_certificates(chain)
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    assert len(certs) == 2
    assert certs[1] == ca
    names = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "hg-healthgate.healthgate-system.svc" in names.get_values_for_type(x509.DNSName)
    certs[0].verify_directly_issued_by(ca)


def test_directive_key_is_generated_once_and_mounted_as_a_file(render: Render) -> None:
    objects = render()
    (secret,) = [s for s in by_kind(objects, "Secret") if s["type"] == "Opaque"]
    assert secret["metadata"]["name"] == "hg-healthgate-directive-key"
    key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["key.pem"]), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    pod = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]
    assert {"name": "directive-key", "secret": {"secretName": secret["metadata"]["name"]}} in (
        pod["volumes"]
    )
    parsed = config.parse(_args(objects), environ={})
    assert str(parsed.directives.key) == "/etc/healthgate/directive-key/key.pem"
    own = render(sets=["directiveKey.existingSecret=my-key"])
    assert [s for s in by_kind(own, "Secret") if s["type"] == "Opaque"] == []
    volumes = by_kind(own, "Deployment")[0]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "directive-key", "secret": {"secretName": "my-key"}} in volumes


@pytest.mark.parametrize(
    "bad",
    [
        "webhook.failurePolicy=Sometimes",
        "replicaCount=0",
        "unknownKey=1",
        "webhook.certificate.source=vault",
        "webhook.timeoutSeconds=60",
        "sidecar.port=80",
        "sidecar.resources.claims=x",
        "webhook.namespaceSelector.matchExpressions[0].operator=Near",
        "webhook.configurationName=Not_A_Name",
        "rbac.restartWorkloads=yes",
        "networkPolicy.enabled=maybe",
        "networkPolicy.apiServerPorts[0]=0",
        "networkPolicy.apiServerCidrs[0]=kubernetes",
        "networkPolicy.extraSidecarPorts[0]=70000",
        "sidecar.allowedImages[0]=a\\,b",
    ],
)
def test_schema_rejects_bad_values(helm: Helm, bad: str) -> None:
    proc = helm("template", "hg", CHART, "--kube-version", KUBE_VERSION, "--set", bad)
    assert proc.returncode != 0
    assert "schema" in proc.stderr.lower(), proc.stderr


def test_user_secret_source_requires_a_name(helm: Helm) -> None:
    proc = helm(
        "template", "hg", CHART, "--kube-version", KUBE_VERSION,
        "--set", "webhook.certificate.source=secret",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "existingSecret is required" in proc.stderr


def test_old_kubernetes_is_refused(helm: Helm) -> None:
    """1.30 is the first with ValidatingAdmissionPolicy GA (the chart ships policies)."""
    proc = helm("template", "hg", CHART, "--kube-version", "1.29.9")
    assert proc.returncode != 0
    assert "kubeVersion" in proc.stderr


def _deploy(name: str) -> list[Json]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_chart_rbac_equals_deploy_rbac(render: Render) -> None:
    (chart_role,) = by_kind(render(), "ClusterRole")
    (deploy_role,) = by_kind(_deploy("rbac.yaml"), "ClusterRole")
    assert chart_role["rules"] == deploy_role["rules"]


def test_namespaced_install_may_list_namespaces_and_only_then(render: Render) -> None:
    """Kopf, serving listed namespaces, watches which exist; all-namespaces mode does not."""
    rule = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}
    (everywhere,) = by_kind(render(), "ClusterRole")
    assert rule not in everywhere["rules"]
    (listed,) = by_kind(render(sets=["watchNamespaces={team-a}"]), "ClusterRole")
    assert rule in listed["rules"]


def test_operator_pods_name_their_kopf_identity(render: Render) -> None:
    """Kopf's peering identity is POD_ID; without it Kopf asks for the user name of UID 65532,
    which the image does not have, and the operator crashes at start."""
    pod_id = {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    for objects in (render(), _deploy("operator.yaml")):
        (deployment,) = by_kind(objects, "Deployment")
        assert pod_id in deployment["spec"]["template"]["spec"]["containers"][0]["env"]


def test_workload_rbac_only_when_the_installer_enables_it(render: Render) -> None:
    """restartOnChange's patch on workloads: off by default in the chart and in deploy/."""
    for role in by_kind(render(), "ClusterRole") + by_kind(_deploy("rbac.yaml"), "ClusterRole"):
        assert not any({"deployments", "statefulsets"} & set(r["resources"]) for r in role["rules"])
    enabled = render(sets=["rbac.restartWorkloads=true"], release="healthgate-operator")
    roles = {r["metadata"]["name"]: r for r in by_kind(enabled, "ClusterRole")}
    restart = roles["healthgate-operator-restart-workloads"]
    (deploy_restart,) = by_kind(_deploy("restart-workloads/rbac.yaml"), "ClusterRole")
    assert restart["rules"] == deploy_restart["rules"]
    (binding,) = [
        b
        for b in by_kind(enabled, "ClusterRoleBinding")
        if b["metadata"]["name"] == restart["metadata"]["name"]
    ]
    (deploy_binding,) = by_kind(_deploy("restart-workloads/rbac.yaml"), "ClusterRoleBinding")
    assert binding["subjects"] == deploy_binding["subjects"]


@pytest.mark.parametrize("deploy_file", ["admission.yaml", "admission-policies.yaml"])
def test_chart_admission_equals_deploy_admission(render: Render, deploy_file: str) -> None:
    """deploy/ holds the chart's rendering for release healthgate-operator, minus Helm's labels."""
    chart = [o for o in render(release="healthgate-operator") if o["kind"] in _KINDS[deploy_file]]
    for obj in chart:
        del obj["metadata"]["labels"]
    assert chart == _deploy(deploy_file)


_KINDS = {
    "admission.yaml": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
    "admission-policies.yaml": {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
}


def test_promtool_checks_the_alert_rules(render: Render, promtool: Path, tmp_path: Path) -> None:
    for values in (None, CHART / "ci" / "monitoring-values.yaml"):
        (rule,) = by_kind(render(values, api_versions=[MONITORING_API]), "PrometheusRule")
        alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
        assert alerts == {
            "HealthGateDependencyUnhealthy",
            "HealthGateDegraded",
            "HealthGateCheckLatencyHigh",
            "HealthGateSidecarDown",
            "HealthGateOperatorDown",
            "HealthGateStatusStale",
            "HealthGateWebhookErrors",
        }
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(rule["spec"]))
        proc = subprocess.run(
            [str(promtool), "check", "rules", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS: 7 rules found" in proc.stdout


def test_promtool_rejects_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    """Control: promtool really parses the expressions (so the check above can fail)."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"alert": "Broken", "expr": "sum(rate(healthgate_x[5m]) >"},
    ]}]}))  # fmt: skip
    proc = subprocess.run(
        [str(promtool), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0


def test_network_policy_is_optional_and_allows_only_what_the_operator_needs(
    render: Render,
) -> None:
    assert by_kind(render(), "NetworkPolicy") == []
    (policy,) = by_kind(render(CHART / "ci" / "network-policy-values.yaml"), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    ingress_ports = [[p["port"] for p in rule["ports"]] for rule in spec["ingress"]]
    assert ingress_ports == [[9443], [8080]]
    assert spec["ingress"][1]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    api, dns, sidecars = spec["egress"]
    assert api == {
        "ports": [{"port": 443, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
    }
    assert {p["port"] for p in dns["ports"]} == {53}
    assert [p["port"] for p in sidecars["ports"]] == [8086, 9100]


def test_allowed_sidecar_images_reach_the_operator(render: Render) -> None:
    assert config.parse(_args(render()), environ={}).sidecar.allowed == (
        "ghcr.io/healthgate/healthgate:0.1.0",
    )
    sets = ["sidecar.allowedImages={registry.example.com/healthgate/*,ghcr.io/healthgate/*}"]
    parsed = config.parse(_args(render(sets=sets)), environ={})
    assert parsed.sidecar.allowed == ("registry.example.com/healthgate/*", "ghcr.io/healthgate/*")


def test_shards_render_one_deployment_each_with_its_own_peering(render: Render) -> None:
    (plain,) = by_kind(render(), "Deployment")
    assert plain["metadata"]["name"] == "hg-healthgate"  # unsharded: name and selector kept
    assert "healthgate.io/shard" not in plain["spec"]["selector"]["matchLabels"]
    objects = render(CHART / "ci" / "sharded-values.yaml")
    deployments = by_kind(objects, "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == [
        f"hg-healthgate-shard-{i}" for i in range(3)
    ]
    selectors = [d["spec"]["selector"]["matchLabels"]["healthgate.io/shard"] for d in deployments]
    assert selectors == ["0", "1", "2"]  # disjoint: no Deployment adopts another's pods
    peerings = []
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert deployment["spec"]["replicas"] == 2
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels.items() >= deployment["spec"]["selector"]["matchLabels"].items()
        peerings.append(config.parse(container["args"], {}).peering.object_name)
    (service,) = by_kind(objects, "Service")
    assert "healthgate.io/shard" not in service["spec"]["selector"]  # webhooks: every replica
    (role,) = by_kind(objects, "ClusterRole")
    (named,) = [
        r for r in role["rules"] if "resourceNames" in r and "kopfpeerings" in r["resources"]
    ]
    assert named["resourceNames"] == peerings == [f"healthgate-shard-{i}" for i in range(3)]

"""The mutating webhook, called by the real API server over TLS: who gets the sidecar."""

from __future__ import annotations

import base64
import functools
from typing import Any

import pytest

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import (
    OPERATOR_NS,
    OPT_OUT_LABEL,
    SIDECAR_IMAGE,
    SIDECAR_PORT,
    SIDECAR_RESOURCES,
    Kube,
    Operator,
)

pytestmark = pytest.mark.integration
Json = dict[str, Any]


def test_webhook_configurations_are_the_installs_with_the_operators_ca(
    k8s: Kube, operator: Operator
) -> None:
    """Shipped by the install (rendered from the chart), never created by the operator: it
    only published the CA it serves with, and left everything else as installed."""
    served = base64.b64encode((operator.workdir / "tls.crt").read_bytes()).decode()
    mutating = k8s.fetch("mutatingwebhookconfiguration", "healthgate.io")
    (hook,) = mutating["webhooks"]
    url = f"https://127.0.0.1:{operator.webhook_port}"
    assert hook["clientConfig"] == {"url": f"{url}/inject-sidecar", "caBundle": served}
    assert hook["failurePolicy"] == "Ignore"
    excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert {"kube-system", OPERATOR_NS} <= set(excluded)
    assert "ownerReferences" not in mutating["metadata"]
    validating = k8s.fetch("validatingwebhookconfiguration", "healthgate.io")
    (gate_hook,) = validating["webhooks"]
    assert gate_hook["clientConfig"] == {"url": f"{url}/validate-gate", "caBundle": served}
    assert gate_hook["failurePolicy"] == "Fail"
    assert [r["resources"] for r in gate_hook["rules"]] == [["healthgates"]]


def test_namespace_selector_value_is_enforced_by_the_api_server(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    """The chart's webhook.namespaceSelector: a namespace outside it never reaches the webhook."""
    outside = f"{namespace}-out"
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": outside, "labels": {OPT_OUT_LABEL: "true"}},
        }
    )
    try:
        wait_for("the default service account", lambda: k8s.get("sa", "default", outside))
        for ns in (namespace, outside):
            k8s.apply(objects.gate("api", ns))
            wait_for("the ConfigMap", functools.partial(k8s.get, "configmap", "api-healthgate", ns))
        assert objects.sidecars(k8s.create(objects.pod("p", outside))) == []
        assert len(objects.sidecars(k8s.create(objects.pod("p", namespace)))) == 1
    finally:
        k8s.run("delete", "namespace", outside, "--wait=false", check=False)


def test_selected_pod_gets_a_native_sidecar(k8s: Kube, operator: Operator, namespace: str) -> None:
    k8s.apply(objects.gate("api", namespace))
    pod = k8s.create(objects.pod("p1", namespace))
    (sidecar,) = objects.sidecars(pod)
    assert pod["spec"]["initContainers"][0]["name"] == "healthgate"
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["image"] == SIDECAR_IMAGE
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    [source] = volumes["healthgate-secrets"]["projected"]["sources"]
    assert source["secret"] == {
        "name": "redis-auth",
        "items": [{"key": "url", "path": "HG_CACHE_URL"}],
    }  # a file the kubelet updates, not an env var frozen at start
    annotations = pod["metadata"]["annotations"]
    assert annotations["healthgate.io/gate"] == "api"
    # No spec.sidecar: the operator's --sidecar-port and --sidecar-resources apply.
    assert annotations["prometheus.io/port"] == str(SIDECAR_PORT)
    assert sidecar["ports"][0]["containerPort"] == SIDECAR_PORT
    assert sidecar["resources"] == SIDECAR_RESOURCES
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["healthgate-config"]["configMap"]["name"] == "api-healthgate"


def test_unselected_and_opted_out_pods_are_untouched(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("api", namespace))
    other = k8s.create(objects.pod("other", namespace, app="other"))
    opted = k8s.create(
        objects.pod("opted", namespace, annotations={"healthgate.io/inject": "false"})
    )
    assert objects.sidecars(other) == []
    assert objects.sidecars(opted) == []


RESTRICTED_APP: Json = {
    "name": "app",
    "image": "registry.invalid/app:1",
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def test_system_namespaces_are_skipped(k8s: Kube, operator: Operator) -> None:
    for ns in ("kube-public", OPERATOR_NS):
        k8s.apply(objects.gate("sys", ns))
        try:
            # The operator's namespace enforces Pod Security "restricted" (deploy/rbac.yaml).
            pod = k8s.create(objects.pod("sys-pod", ns, containers=[RESTRICTED_APP]))
            assert objects.sidecars(pod) == []
        finally:
            k8s.run("delete", "pod", "sys-pod", "-n", ns, "--wait=false", check=False)
            k8s.run("delete", "hg", "sys", "-n", ns, check=False)


def test_already_injected_pod_is_untouched(k8s: Kube, operator: Operator, namespace: str) -> None:
    k8s.apply(objects.gate("api", namespace))
    own = {"name": "healthgate", "image": "mine:1", "restartPolicy": "Always"}
    manifest = objects.pod("pre", namespace)
    manifest["spec"]["initContainers"] = [own]
    pod = k8s.create(manifest)
    assert [c["image"] for c in objects.sidecars(pod)] == ["mine:1"]
    assert "healthgate.io/gate" not in pod["metadata"]["annotations"]


def test_two_gates_first_wins_and_both_report(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("zeta", namespace))
    k8s.apply(objects.gate("alpha", namespace))
    proc = k8s.apply(objects.pod("both", namespace))
    assert "alpha injects it" in proc.stderr  # the admission warning reaches the user
    pod = k8s.fetch("pod", "both", namespace)
    assert len(objects.sidecars(pod)) == 1
    assert pod["metadata"]["annotations"]["healthgate.io/gate"] == "alpha"
    for name, other in (("alpha", "zeta"), ("zeta", "alpha")):

        def conflicts(name: str = name) -> Any:
            return ((k8s.get("hg", name, namespace) or {}).get("status") or {}).get("conflicts")

        assert wait_for(f"{name}'s conflicts", conflicts) == [
            {"gate": other, "pods": 1, "winner": "alpha"}
        ]
    zeta = k8s.fetch("hg", "zeta", namespace)
    assert zeta["status"]["pods"] == {"total": 1, "injected": 0, "ready": 0, "notInjected": 1}


def test_restricted_pod_security_admits_the_injected_pod(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    """Pod Security admission runs after mutation: the sidecar itself must be "restricted"."""
    k8s.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    k8s.apply(objects.gate("api", namespace))
    proc = k8s.apply(objects.pod("strict", namespace, containers=[RESTRICTED_APP]), check=False)
    assert proc.returncode == 0, proc.stderr
    pod = k8s.fetch("pod", "strict", namespace)
    assert len(objects.sidecars(pod)) == 1


def test_deployment_pods_are_injected_and_restarted_on_change(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "schedulerName": objects.UNSCHEDULED,
                    "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
                },
            },
        },
    }
    k8s.apply(deployment)  # before any gate: its pod runs without the sidecar
    first = wait_for("the first pod", lambda: k8s.items("pods", namespace))
    assert objects.sidecars(first[0]) == []
    k8s.apply(objects.gate("api", namespace, rollout={"restartOnChange": True}))

    def restarted() -> Json | None:
        body = k8s.get("deployment", "web", namespace) or {}
        annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
        return annotations if "kubectl.kubernetes.io/restartedAt" in annotations else None

    annotations = wait_for("a rollout restart", restarted)
    gate = k8s.fetch("hg", "api", namespace)
    assert annotations["healthgate.io/restarted-for"] == gate["status"]["injectionHash"]

    def injected() -> list[Json]:
        return [p for p in k8s.items("pods", namespace) if objects.sidecars(p)]

    (pod,) = wait_for("a new pod with the sidecar", injected)
    assert (
        pod["metadata"]["annotations"]["healthgate.io/injection-hash"]
        == annotations["healthgate.io/restarted-for"]
    )

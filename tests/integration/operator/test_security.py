"""A stolen operator token against the real API server: each attack on the cluster is refused.

The attacks run with the operator's own kubeconfig (the service-account token of
``deploy/rbac.yaml``, with the workload RBAC of ``deploy/restart-workloads`` that these tests
install), so they prove what RBAC and the install's admission policies leave that token. Each
attack has a control: the same kind of request the operator really makes is allowed.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import ROOT, Kube, Operator

pytestmark = pytest.mark.integration
Json = dict[str, Any]


def as_operator(k8s: Kube, operator: Operator, *args: str, input: str | None = None) -> str:
    """kubectl with the operator's token; returns stderr, asserting the call was refused."""
    proc = subprocess.run(
        [str(k8s.cluster.bins.kubectl), f"--kubeconfig={operator.kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode != 0, f"allowed: kubectl {' '.join(args)}\n{proc.stdout}"
    return proc.stderr


def allowed_as_operator(k8s: Kube, operator: Operator, *args: str) -> None:
    proc = subprocess.run(
        [str(k8s.cluster.bins.kubectl), f"--kubeconfig={operator.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_operator_cannot_create_a_webhook_on_secrets(k8s: Kube, operator: Operator) -> None:
    hook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "steal-secrets"},
        "webhooks": [
            {
                "name": "steal.example.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "clientConfig": {"url": "https://127.0.0.1:1/steal"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["secrets"],
                    }
                ],
            }
        ],
    }
    err = as_operator(k8s, operator, "create", "-f", "-", input=json.dumps(hook))
    assert "forbidden" in err.lower(), err
    assert k8s.get("mutatingwebhookconfiguration", "steal-secrets") is None


def test_operator_cannot_point_its_own_webhook_at_secrets(k8s: Kube, operator: Operator) -> None:
    """RBAC allows patching healthgate.io (for its caBundle); the policy allows nothing else."""
    rule = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["secrets"],
    }
    patch = [{"op": "add", "path": "/webhooks/0/rules/-", "value": rule}]
    err = as_operator(
        k8s, operator, "patch", "mutatingwebhookconfiguration", "healthgate.io",
        "--type=json", "-p", json.dumps(patch),
    )  # fmt: skip
    assert "caBundle" in err, err
    url = [{"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": "https://x:1/"}]
    err = as_operator(
        k8s, operator, "patch", "validatingwebhookconfiguration", "healthgate.io",
        "--type=json", "-p", json.dumps(url), "--dry-run=server",
    )  # fmt: skip
    assert "caBundle" in err, err


def test_operator_cannot_patch_aws_auth(k8s: Kube, operator: Operator) -> None:
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": "[]\n"},
        }
    )
    masters = "- rolearn: arn:aws:iam::1:role/x\n  username: x\n  groups: [system:masters]\n"
    # A server-side apply, as the operator writes its own ConfigMaps: a raw PATCH that needs
    # no read permission (kubectl patch would first GET, which RBAC refuses anyway).
    for labels in ({}, {"app.kubernetes.io/managed-by": "healthgate-operator"}):
        attack = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system", "labels": labels},
            "data": {"mapRoles": masters},
        }
        err = as_operator(
            k8s, operator, "apply", "--server-side", "--force-conflicts",
            "--field-manager=healthgate-operator", "-f", "-", input=json.dumps(attack),
        )  # fmt: skip
        assert "ValidatingAdmissionPolicy" in err, err
    cm = k8s.fetch("configmap", "aws-auth", "kube-system")
    assert cm["data"]["mapRoles"] == "[]\n"


@pytest.mark.parametrize(
    ("name", "labels", "owned"),
    [
        ("loot", {"app.kubernetes.io/managed-by": "healthgate-operator"}, True),
        ("x-healthgate", {}, True),
        ("x-healthgate", {"app.kubernetes.io/managed-by": "healthgate-operator"}, False),
    ],
    ids=["name-not-ours", "no-label", "no-owner"],
)
def test_operator_creates_only_its_own_configmaps(  # noqa: PLR0917 (parametrized)
    k8s: Kube, operator: Operator, namespace: str, name: str, labels: dict[str, str], owned: bool
) -> None:
    k8s.apply(objects.gate("x", namespace))
    gate = wait_for("the gate", lambda: k8s.get("hg", "x", namespace))
    meta: Json = {"name": name, "namespace": namespace, "labels": labels}
    if owned:
        meta["ownerReferences"] = [
            {
                "apiVersion": "healthgate.io/v1alpha1",
                "kind": "HealthGate",
                "name": "x",
                "uid": gate["metadata"]["uid"],
            }
        ]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "b"}}
    err = as_operator(k8s, operator, "create", "--dry-run=server", "-f", "-", input=json.dumps(cm))
    assert "ValidatingAdmissionPolicy" in err, err
    # Control: the operator's own ConfigMap for that gate is what it writes, and it is there.
    wait_for("the gate's own ConfigMap", lambda: k8s.get("configmap", "x-healthgate", namespace))


def deployment(namespace: str) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


def test_operator_may_only_touch_the_restart_annotation(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(deployment(namespace))
    thief = {
        "name": "thief",
        "image": "registry.invalid/thief:1",
        "env": [
            {
                "name": "LOOT",
                "valueFrom": {
                    "secretKeyRef": {"namespace": "kube-system", "name": "x", "key": "k"}
                },
            }
        ],
    }
    attacks: list[Json] = [
        {"spec": {"template": {"spec": {"containers": [{"name": "app"}, thief]}}}},
        {"spec": {"template": {"spec": {"serviceAccountName": "admin"}}}},
        {"spec": {"replicas": 50}},
        {"spec": {"template": {"metadata": {"annotations": {"other.io/x": "1"}}}}},
        {"metadata": {"labels": {"owned": "yes"}}},
    ]
    for attack in attacks:
        err = as_operator(
            k8s, operator, "patch", "deployment", "web", "-n", namespace,
            "--type=strategic", "-p", json.dumps(attack), "--dry-run=server",
        )  # fmt: skip
        assert "ValidatingAdmissionPolicy" in err, (attack, err)
    # Control: what `kubectl rollout restart` does is allowed.
    restart = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}
        }
    }
    allowed_as_operator(
        k8s, operator, "patch", "deployment", "web", "-n", namespace,
        "--type=merge", "-p", json.dumps(restart), "--dry-run=server",
    )  # fmt: skip
    another = deployment(namespace)
    another["metadata"]["name"] = "w2"
    err = as_operator(
        k8s, operator, "create", "--dry-run=server", "-f", "-", input=json.dumps(another)
    )
    assert "forbidden" in err.lower(), err


def test_restart_without_workload_rbac_is_an_event_not_a_loop(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    """The installer did not enable restarts: the gate says so once; the operator carries on."""
    rbac = str(ROOT / "deploy" / "restart-workloads" / "rbac.yaml")
    k8s.run("delete", "clusterrolebinding", "healthgate-operator-restart-workloads")
    try:
        web = deployment(namespace)
        web["spec"]["replicas"] = 1
        web["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
        web["spec"]["selector"] = {"matchLabels": {"app": "api"}}
        web["spec"]["template"]["spec"]["schedulerName"] = objects.UNSCHEDULED
        k8s.apply(web)
        wait_for("the pod", lambda: k8s.items("pods", namespace))
        k8s.apply(objects.gate("api", namespace, rollout={"restartOnChange": True}))

        def refused() -> list[Json]:
            return k8s.items("events", namespace, "--field-selector=reason=RestartForbidden")

        (event,) = wait_for("a RestartForbidden event", refused)
        assert event["type"] == "Warning"
        assert "rbac.restartWorkloads=true" in event["message"]
        gate = k8s.fetch("hg", "api", namespace)
        conditions = {c["type"]: c["status"] for c in gate["status"]["conditions"]}
        assert conditions["Reconciled"] == "True"
        body = k8s.get("deployment", "web", namespace) or {}
        assert "annotations" not in body["spec"]["template"]["metadata"]
        # Said once, not at every refresh: let a few refreshes pass, then count again.
        time.sleep(3 * operator.status_interval)
        assert len(refused()) == 1
    finally:
        k8s.run("apply", "-f", rbac)

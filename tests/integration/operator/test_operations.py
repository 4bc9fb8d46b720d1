"""Operating the operator: restarts, its own endpoints, its privileges."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import (
    ADMISSION_VALUES,
    OPERATOR_ARGS,
    OPERATOR_NS,
    ROOT,
    SIDECAR_IMAGE,
    Kube,
    Operator,
)

pytestmark = pytest.mark.integration
Json = dict[str, Any]
SA = f"system:serviceaccount:{OPERATOR_NS}:healthgate-operator"


def test_least_privilege(k8s: Kube, operator: Operator) -> None:
    def can(verb: str, resource: str) -> bool:
        proc = k8s.cluster.kubectl("auth", "can-i", verb, resource, "-A", f"--as={SA}", check=False)
        return proc.stdout.strip() == "yes"

    for verb in ("get", "list", "watch"):
        assert not can(verb, "secrets")
    assert not can("delete", "pods")
    assert not can("create", "pods")
    assert not can("update", "pods")
    assert not can("delete", "configmaps")
    assert can("list", "pods")
    assert can("patch", "healthgates.healthgate.io")
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        assert not can("create", kind)
        assert not can("patch", kind)  # only its own names (resourceNames)
    assert can("create", "subjectaccessreviews.authorization.k8s.io")


def test_liveness_and_metrics_endpoints(operator: Operator) -> None:
    assert operator.http(operator.health_port, "/healthz") is not None
    text = operator.metrics()
    assert "healthgate_webhook_admission_duration_seconds_bucket" in text


def test_restart_mid_way_leaves_no_duplicates_and_a_correct_status(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    manifest = objects.gate("api", namespace)
    k8s.apply(manifest)
    wait_for("the ConfigMap", lambda: k8s.get("configmap", "api-healthgate", namespace))
    k8s.apply(objects.pod("before", namespace))
    operator.stop()
    changed = copy.deepcopy(manifest)
    changed["spec"]["dependencies"][0]["intervalSeconds"] = 9
    try:
        # While it is down: a pod that the (Ignore) webhook cannot inject, and a spec change
        # that the HealthGate webhook (Fail) refuses: no gate changes unchecked.
        proc = k8s.apply(objects.pod("during", namespace), check=False)
        assert proc.returncode == 0, (
            "failurePolicy Ignore must admit pods while the operator is down"
        )
        refused = k8s.apply(changed, check=False)
        assert refused.returncode != 0
        assert "validate.healthgate.io" in refused.stderr
    finally:
        operator.start()
    k8s.apply(changed)
    k8s.apply(objects.pod("after", namespace))

    def rendered() -> bool:
        cm = k8s.get("configmap", "api-healthgate", namespace) or {"data": {"config.yaml": "{}"}}
        config = yaml.safe_load(cm["data"]["config.yaml"]) or {}
        return (
            bool(config.get("dependencies")) and config["dependencies"][0]["intervalSeconds"] == 9
        )

    wait_for("the ConfigMap after the restart", rendered)
    counts = {p["metadata"]["name"]: len(objects.sidecars(p)) for p in k8s.items("pods", namespace)}
    assert counts == {"before": 1, "during": 0, "after": 1}

    def settled() -> Json | None:
        status = (k8s.get("hg", "api", namespace) or {}).get("status") or {}
        return status if status.get("pods", {}).get("total") == 3 else None

    status = wait_for("the status after the restart", settled)
    assert status["pods"]["injected"] == 2
    assert status["observedGeneration"] == 2


def test_a_second_replica_stands_by(k8s: Kube, operator: Operator, namespace: str) -> None:
    """Peering: the lower-priority replica pauses; the webhook configuration stays the same."""
    before = k8s.get("mutatingwebhookconfiguration", "healthgate.io")
    standby = Operator(
        cluster=k8s.cluster,
        kubeconfig=operator.kubeconfig,
        workdir=operator.workdir,
        name="healthgate-operator-standby",
        status_interval=1,
        sidecar_image=SIDECAR_IMAGE,
        args=[
            "--priority=1",
            *OPERATOR_ARGS,
            f"--webhook-url=https://127.0.0.1:{operator.webhook_port}",
        ],
        admission_values=ADMISSION_VALUES,
    )
    standby.start()
    try:
        # Both announce themselves; the standby starts paused and stays so (Kopf logs nothing
        # then), so the proof is that it never resumes and never handles anything.
        def peers() -> Any:
            body = k8s.get("clusterkopfpeering", "healthgate") or {}
            priorities = sorted(p["priority"] for p in (body.get("status") or {}).values())
            return priorities if priorities == [1, 100] else None

        wait_for("both replicas in the peering object", peers)
        k8s.apply(objects.gate("api", namespace))
        wait_for("the ConfigMap", lambda: k8s.get("configmap", "api-healthgate", namespace))
        pod = k8s.apply(objects.pod("p", namespace))
        assert pod.returncode == 0
        assert "Handler 'reconcile'" not in standby.log()
        assert "Resuming operations" not in standby.log()
        after = k8s.get("mutatingwebhookconfiguration", "healthgate.io")
        assert before is not None
        assert after is not None
        assert after["webhooks"][0]["clientConfig"] == before["webhooks"][0]["clientConfig"]
        assert (
            len(objects.sidecars(k8s.get("pod", "p", namespace) or {"spec": {"containers": []}}))
            == 1
        )
    finally:
        standby.stop()


def test_deploy_manifests_are_accepted_by_the_api_server(k8s: Kube) -> None:
    proc = k8s.cluster.kubectl(
        "apply", "--dry-run=server", "-f", str(ROOT / "deploy" / "operator.yaml"), check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr

"""What the operator owns and what it must not: names, sizes, its ConfigMap, finalizers (issue 11).

Each test here failed before its fix: long names and odd selector values were accepted, a big
gate's Kopf annotation carried a full copy of its spec, a ConfigMap deleted or edited by hand
stayed so, a user's ConfigMap of the same name was taken over, and gates carried a finalizer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import ROOT, Kube, Operator

pytestmark = pytest.mark.integration
Json = dict[str, Any]
TCP: Json = {"type": "tcp", "tcp": {"host": "127.0.0.1", "port": 1}}


def condition(body: Json | None, type_: str) -> Json:
    for item in ((body or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return {}


def reconciled(k8s: Kube, namespace: str, name: str, status: str = "True") -> Json | None:
    found = condition(k8s.get("hg", name, namespace), "Reconciled")
    return found if found.get("status") == status else None


def apply_reconciled(k8s: Kube, namespace: str, gate: Json) -> Json:
    """Apply ``gate`` and wait until it is Reconciled; the gate as stored then."""
    name = gate["metadata"]["name"]
    k8s.apply(gate)
    wait_for(f"{name} Reconciled", lambda: reconciled(k8s, namespace, name), timeout=60)
    return k8s.fetch("hg", name, namespace)


def events(k8s: Kube, namespace: str, reason: str) -> list[Json]:
    return [e for e in k8s.items("events", namespace) if e.get("reason") == reason]


def test_a_name_longer_than_a_label_value_is_rejected(k8s: Kube, namespace: str) -> None:
    proc = k8s.apply(objects.gate("a" * 64, namespace), check=False)
    assert proc.returncode != 0
    assert "at most 63 characters" in proc.stderr
    assert k8s.apply(objects.gate("a" * 63, namespace), check=False).returncode == 0


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"app": "x,app!=y"}},
        {"matchLabels": {"app in (x)": "y"}},
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a b"]}]},
        {"matchExpressions": [{"key": "app,x", "operator": "Exists"}]},
    ],
)
def test_selector_keys_and_values_must_be_label_syntax(
    k8s: Kube, namespace: str, selector: Json
) -> None:
    gate = objects.gate("api", namespace)
    gate["spec"]["selector"] = selector
    proc = k8s.apply(gate, check=False)
    assert proc.returncode != 0, "a selector the webhook and a LIST would read differently"
    assert "selector" in proc.stderr


def test_dependencies_are_capped(k8s: Kube, namespace: str) -> None:
    deps = [{"name": f"d{i}", **TCP} for i in range(101)]
    proc = k8s.apply(objects.gate("many", namespace, deps), check=False)
    assert proc.returncode != 0
    assert "spec.dependencies" in proc.stderr


def test_a_large_gate_reconciles_and_kopf_keeps_no_copy_of_it(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    long_host = "h" * 240 + ".example"
    deps = [
        {"name": f"dep-{i:03d}-" + "x" * 40, "type": "tcp", "tcp": {"host": long_host, "port": 1}}
        for i in range(100)
    ]
    gate = apply_reconciled(k8s, namespace, objects.gate("big", namespace, deps))
    annotations = gate["metadata"].get("annotations") or {}
    size = sum(len(k) + len(v) for k, v in annotations.items() if "healthgate.io" in k)
    assert size < 2048, f"Kopf's bookkeeping grows with the gate: {size} bytes"
    assert not gate["metadata"].get("finalizers")


def test_gates_carry_no_finalizer_and_delete_while_the_operator_is_down(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    gate = apply_reconciled(k8s, namespace, objects.gate("api", namespace))
    assert not gate["metadata"].get("finalizers")
    operator.stop()
    try:
        proc = k8s.cluster.kubectl("delete", "hg", "api", "-n", namespace, "--timeout=20s")
        assert proc.returncode == 0
        assert k8s.get("hg", "api", namespace) is None
    finally:
        operator.start()


def test_a_configmap_deleted_or_edited_by_hand_is_restored(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    apply_reconciled(k8s, namespace, objects.gate("api", namespace))
    original = k8s.fetch("configmap", "api-healthgate", namespace)
    k8s.run("delete", "configmap", "api-healthgate", "-n", namespace)
    wait_for("the ConfigMap recreated", lambda: k8s.get("configmap", "api-healthgate", namespace))

    evil_dep = "{name: x, type: tcp, tcp: {host: evil.example, port: 1}}"
    evil = {"data": {"config.yaml": f"dependencies: [{evil_dep}]"}}
    k8s.run(
        "patch",
        "configmap",
        "api-healthgate",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(evil),
    )

    def restored() -> Json | None:
        found = k8s.get("configmap", "api-healthgate", namespace)
        return found if found and found["data"] == original["data"] else None

    wait_for("the edited ConfigMap restored", restored)
    assert events(k8s, namespace, "ConfigMapRestored")
    assert reconciled(k8s, namespace, "api")


def test_a_configmap_we_did_not_create_is_never_taken_over(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    theirs = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-healthgate", "namespace": namespace},
        "data": {"mine": "precious"},
    }
    k8s.apply(theirs)
    k8s.apply(objects.gate("api", namespace))
    found = wait_for("Reconciled=False", lambda: reconciled(k8s, namespace, "api", "False"))
    assert found["reason"] == "ConfigMapConflict"
    assert "not created by this HealthGate" in found["message"]
    wait_for("a ConfigMapConflict event", lambda: events(k8s, namespace, "ConfigMapConflict"))
    cm = k8s.fetch("configmap", "api-healthgate", namespace)
    assert cm["data"] == {"mine": "precious"}
    assert not cm["metadata"].get("ownerReferences")

    # Its pods are not injected: the sidecar would wait forever for a config that is not there.
    pod = k8s.create(objects.pod("p1", namespace))
    assert objects.sidecars(pod) == []

    k8s.run("delete", "configmap", "api-healthgate", "-n", namespace)
    wait_for("Reconciled once the name is free", lambda: reconciled(k8s, namespace, "api"))
    pod = k8s.create(objects.pod("p2", namespace))
    assert len(objects.sidecars(pod)) == 1


def test_helm_uninstall_with_gates_present_leaves_nothing_terminating(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    """The operator goes with the release; the gate and its namespace must still go.

    The release's own pods stay Pending (a node selector no node has), as in the chart tests;
    the session's operator handles the gate, then stops, as the uninstalled one would.
    """
    release = f"hg-{namespace[-5:]}"
    chart = str(ROOT / "charts" / "healthgate")
    selector = "nodeSelector.healthgate\\.io/ship-test=never"
    # The release ships its own webhook configurations: named apart from the session's, and
    # serving only a namespace that never exists, so that the API server never calls the
    # release's Service (no operator runs behind it, and its address leads off this machine).
    hooks = f"webhook.configurationName={release}.healthgate.io"
    nowhere = "watchNamespaces={healthgate-no-such-namespace}"
    k8s.cluster.helm(
        "install", release, chart, "-n", namespace,
        "--set", selector, "--set", hooks, "--set", nowhere,
    )  # fmt: skip
    apply_reconciled(k8s, namespace, objects.gate("api", namespace))
    operator.stop()
    try:
        k8s.cluster.helm("uninstall", release, "-n", namespace)
        k8s.run("delete", "namespace", namespace, "--wait=false")
        wait_for(
            "the namespace gone, gate and all",
            lambda: k8s.cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0,
            timeout=90,
        )
    finally:
        operator.start()

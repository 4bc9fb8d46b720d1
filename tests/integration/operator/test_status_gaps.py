"""Status that tells the truth: pods that cannot start, pods that only look injected (issue 11).

The pods here are never scheduled (see ``objects.UNSCHEDULED``), so no kubelet reports on them.
Where a test needs what a kubelet reports for a container that cannot start, it writes that pod
status itself through the pods/status subresource with admin credentials, exactly as the kubelet
would (reason ``CreateContainerConfigError``, message ``secret "db-creds" not found``).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube, Operator

pytestmark = pytest.mark.integration
Json = dict[str, Any]


def ready_condition(k8s: Kube, namespace: str) -> Json:
    gate = k8s.get("hg", "api", namespace) or {}
    for item in (gate.get("status") or {}).get("conditions") or []:
        if item["type"] == "Ready":
            return dict(item)
    return {}


def test_a_missing_secret_is_named_in_status_and_an_event(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("api", namespace))
    wait_for("the ConfigMap", lambda: k8s.get("configmap", "api-healthgate", namespace))
    pod = k8s.create(objects.pod("p1", namespace))
    assert len(objects.sidecars(pod)) == 1
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    waiting = {
        "reason": "CreateContainerConfigError",
        "message": 'secret "db-creds" not found',
    }
    k8s.patch_status(
        "pod",
        "p1",
        namespace,
        {
            "phase": "Pending",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": now,
            "initContainerStatuses": [
                {
                    "name": "healthgate",
                    "image": objects.sidecars(pod)[0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"waiting": waiting},
                }
            ],
        },
    )

    def named() -> Json | None:
        ready = ready_condition(k8s, namespace)
        return ready if ready.get("reason") == "PodsCannotStart" else None

    ready = wait_for("Ready naming why pods cannot start", named)
    assert ready["status"] == "Unknown"
    assert 'pods cannot start: secret "db-creds" not found' in ready["message"]
    wait_for(
        "a PodsCannotStart event",
        lambda: [
            e
            for e in k8s.items("events", namespace)
            if e.get("reason") == "PodsCannotStart" and "db-creds" in e.get("message", "")
        ],
    )


def test_a_pod_that_only_looks_injected_is_not_counted(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("api", namespace))
    wait_for("the ConfigMap", lambda: k8s.get("configmap", "api-healthgate", namespace))
    forged = objects.pod(
        "forged",
        namespace,
        annotations={"healthgate.io/inject": "false", "healthgate.io/gate": "api"},
    )
    forged["spec"]["initContainers"] = [
        {
            "name": "healthgate",
            "image": "registry.invalid/mine:1",
            "ports": [{"name": "healthgate", "containerPort": 9999}],
        }
    ]
    k8s.apply(forged)

    def counted() -> Json | None:
        gate = k8s.get("hg", "api", namespace) or {}
        pods = (gate.get("status") or {}).get("pods") or {}
        return pods if pods.get("total") == 1 else None

    pods = wait_for("the pod counted", counted)
    assert pods["injected"] == 0
    assert pods["notInjected"] == 1
    columns = k8s.run("get", "hg", "api", "-n", namespace)
    assert "NOT-INJECTED" in columns.splitlines()[0]

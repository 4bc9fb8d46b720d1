"""Manifests the integration tests create: gates, pods, secrets (plain dicts)."""

from __future__ import annotations

import copy
from typing import Any

Json = dict[str, Any]

# The session's real node (tests/env/realnode) runs pods the scheduler binds to it. These
# tests drive pod status by hand (patching podIP to sidecars they start themselves), so their
# pods name a scheduler that does not exist and stay unbound, as on a cluster without nodes.
UNSCHEDULED = "healthgate-tests-no-scheduler"

REDIS_DEP: Json = {
    "name": "cache",
    "type": "redis",
    "intervalSeconds": 1,
    "timeoutSeconds": 0.5,
    "failureThreshold": 1,
    "redis": {"urlFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}},
}


def gate(
    name: str,
    namespace: str,
    dependencies: list[Json] | None = None,
    *,
    app: str = "api",
    **spec: Any,
) -> Json:
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "dependencies": copy.deepcopy(dependencies or [REDIS_DEP]),
            **spec,
        },
    }


def pod(
    name: str,
    namespace: str,
    *,
    app: str = "api",
    annotations: dict[str, str] | None = None,
    containers: list[Json] | None = None,
) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": app},
            "annotations": annotations or {},
        },
        "spec": {
            "schedulerName": UNSCHEDULED,
            "containers": containers or [{"name": "app", "image": "registry.invalid/app:1"}],
        },
    }


def secret(name: str, namespace: str, data: dict[str, str]) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": data,
    }


def sidecars(pod_body: Json) -> list[Json]:
    spec = pod_body["spec"]
    return [
        c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "healthgate"
    ]


# A container that passes the Pod Security "restricted" profile (the sidecar's image has UID 65532).
RESTRICTED_CONTAINER: Json = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def sleeping_app(
    name: str,
    namespace: str,
    *,
    replicas: int,
    image: str,
    container: str = "app",
    pod_spec: Json | None = None,
) -> Json:
    """A Deployment of ``app=<name>`` pods whose one container sleeps (the image needs ``sleep``).

    ``sleep`` as PID 1 ignores SIGTERM, so the grace period is 1 s, not the default 30 s.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    **(pod_spec or {}),
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": container,
                            "image": image,
                            "command": ["sleep", "infinity"],
                            "securityContext": RESTRICTED_CONTAINER,
                        }
                    ],
                },
            },
        },
    }

"""Shared sample objects for the operator's unit tests (plain dicts, as the API returns them)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from healthgate_operator.builders import admission, injection

Json = dict[str, Any]

SPEC: Json = {
    "selector": {"matchLabels": {"app": "tta-api"}},
    "dependencies": [
        {
            "name": "cache",
            "type": "redis",
            "redis": {"urlFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}},
        },
        {
            "name": "graph",
            "type": "neo4j",
            "neo4j": {
                "uri": "bolt://neo4j:7687",
                "username": "neo4j",
                "passwordFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}},
            },
        },
        {
            "name": "llm",
            "type": "http",
            "critical": False,
            "http": {"url": "https://openrouter.ai/api/v1/models", "expectedStatus": [200]},
        },
    ],
    "probes": {"readiness": {"periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 1}},
    "sidecar": {"port": 8086, "resources": {"requests": {"cpu": "10m", "memory": "48Mi"}}},
}


def make_gate(
    name: str = "tta-api",
    spec: Json | None = None,
    namespace: str = "tta",
    *,
    reconciled: bool = True,
) -> Json:
    condition = {"type": "Reconciled", "status": "True" if reconciled else "False"}
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": copy.deepcopy(SPEC if spec is None else spec),
        "status": {"conditions": [condition]},
    }


def make_pod(name: str = "app-1", labels: Json | None = None, **meta: Any) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "tta",
            "labels": {"app": "tta-api"} if labels is None else labels,
            **meta,
        },
        "spec": {
            "containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]}]
        },
    }


def injected_pod() -> Json:
    """:func:`make_pod` as the webhook admits it for :func:`make_gate` (sidecar image img:1)."""
    decision = admission.decide(
        make_pod(),
        "tta",
        [make_gate()],
        defaults=injection.SidecarDefaults(image="img:1"),
        allowed_images=("img:1",),
    )
    assert decision.pod is not None
    return decision.pod


@pytest.fixture
def gate() -> Json:
    return make_gate()


@pytest.fixture
def pod() -> Json:
    return make_pod()

"""Status aggregation with real sidecars reading a real Redis, on loopback "pod IPs"."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.env import common, redis
from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube, Operator, Sidecar

pytestmark = pytest.mark.integration
Json = dict[str, Any]


def status_of(k8s: Kube, namespace: str, name: str) -> Json:
    return dict(((k8s.get("hg", name, namespace) or {}).get("status")) or {})


def events(k8s: Kube, namespace: str, reason: str) -> list[Json]:
    items = k8s.items("events", namespace, f"--field-selector=reason={reason}")
    return [e for e in items if e["involvedObject"]["kind"] == "HealthGate"]


def run_pods(k8s: Kube, namespace: str, ips: list[str], start: Callable[[str], Sidecar]) -> None:
    """Create one pod per IP, give it that IP and a Ready condition, run its sidecar there."""
    for index, ip in enumerate(ips):
        name = f"p{index}"
        k8s.apply(objects.pod(name, namespace))
        k8s.patch_status(
            "pod",
            name,
            namespace,
            {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        )
        start(ip)


def test_status_conditions_events_and_metrics_follow_the_sidecars(
    k8s: Kube,
    operator: Operator,
    namespace: str,
    make_redis: Callable[[], redis.RedisServer],
    make_sidecar: Callable[..., Sidecar],
) -> None:
    server = make_redis()
    port = common.free_port()
    k8s.apply(objects.secret("redis-auth", namespace, {"url": server.url}))
    # env: these sidecars run outside any pod, so no Secret volume exists for them.
    sidecar = {"port": port, "drainSeconds": 0, "secretsAs": "env"}
    k8s.apply(objects.gate("api", namespace, sidecar=sidecar))
    cm = wait_for("the ConfigMap", lambda: k8s.get("configmap", "api-healthgate", namespace))
    text = cm["data"]["config.yaml"]
    base = f"127.{random.randint(20, 250)}.{random.randint(0, 250)}"
    ips = [f"{base}.11", f"{base}.12"]
    k8s.apply(objects.pod("outside", namespace, annotations={"healthgate.io/inject": "false"}))
    run_pods(
        k8s,
        namespace,
        ips,
        lambda ip: make_sidecar(text, ip, port, {"HG_CACHE_URL": server.url}),
    )

    def all_healthy() -> Json | None:
        status = status_of(k8s, namespace, "api")
        deps = status.get("dependencies") or [{}]
        done = status.get("status") == "Healthy" and deps[0].get("healthy") == 2
        return status if done else None

    healthy = wait_for("Healthy", all_healthy)
    assert healthy["ready"] == "2/3"
    assert healthy["pods"] == {"total": 3, "injected": 2, "ready": 2, "notInjected": 1}
    assert healthy["dependencies"] == [
        {"name": "cache", "healthy": 2, "degraded": 0, "unhealthy": 0, "unknown": 0}
    ]
    ready = next(c for c in healthy["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "DependenciesHealthy")
    labels = f'name="api",namespace="{namespace}"'
    assert f'healthgate_gate_status{{{labels},status="Healthy"}} 1.0' in operator.metrics()
    assert f'healthgate_gate_pods{{{labels},state="not_injected"}} 1.0' in operator.metrics()

    server.stop()

    def all_sick() -> Json | None:
        status = status_of(k8s, namespace, "api")
        deps = status.get("dependencies") or [{}]
        return status if deps[0].get("unhealthy") == 2 else None

    sick = wait_for("Unhealthy in both pods", all_sick)
    assert sick["status"] == "Unhealthy"
    assert sick["unhealthy"] == "cache"
    ready_false = next(c for c in sick["conditions"] if c["type"] == "Ready")
    assert (ready_false["status"], ready_false["reason"]) == ("False", "DependencyUnhealthy")
    assert ready_false["lastTransitionTime"] >= ready["lastTransitionTime"]
    (event,) = wait_for("the event", lambda: events(k8s, namespace, "DependencyUnhealthy"))
    assert event["type"] == "Warning"
    assert "cache" in event["message"]
    dep_labels = f'dependency="cache",{labels},status="unhealthy"'
    assert f"healthgate_gate_dependency_pods{{{dep_labels}}} 2.0" in operator.metrics()

    server.start()
    wait_for("Healthy again", lambda: status_of(k8s, namespace, "api").get("status") == "Healthy")
    assert wait_for("recovery", lambda: events(k8s, namespace, "DependencyRecovered"))
    assert len(events(k8s, namespace, "DependencyUnhealthy")) == 1  # one event per transition


def test_unreachable_sidecars_are_unknown(k8s: Kube, operator: Operator, namespace: str) -> None:
    k8s.apply(objects.gate("api", namespace, sidecar={"port": common.free_port()}))
    k8s.apply(objects.pod("p0", namespace))
    k8s.patch_status(
        "pod", "p0", namespace, {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}
    )

    def unknown() -> Json | None:
        status = status_of(k8s, namespace, "api")
        return status if status.get("pods", {}).get("injected") == 1 else None

    status = wait_for("a status", unknown)
    assert status["status"] == "Unknown"
    assert status["dependencies"][0]["unknown"] == 1
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NoReports")

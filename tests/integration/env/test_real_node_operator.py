"""The chart's operator as pods on the real node, and the whole flow through it.

``helm install charts/healthgate`` with the image built from our Dockerfile: the operator runs
restricted (UID 65532, read-only root) and reaches the API server through the ``kubernetes``
Service (:mod:`tests.env.realnode.apiservice`); the API server calls its webhook through the
chart's Service (kube-proxy); the webhook injects the native sidecar into an app Deployment; the
kubelet's own probes make the pods Ready; the gate's status aggregates what the sidecars report;
Redis, a pod behind a Service, goes away and comes back. The tests run in file order.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.env import kube
from tests.env.common import progress, wait_for
from tests.env.realnode import buildah, images, release
from tests.env.realnode import node as realnode

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
Json = dict[str, Any]
APP, REPLICAS, PASSWORD = "story-api", 2, "real-node-secret"
UID = 65532
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass
class Flow:
    cluster: kube.KubeCluster
    node: realnode.RealNode
    release: release.Release
    apps: str  # the namespace the operator serves

    def json(self, *args: str) -> Json:
        got: Json = json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)
        return got

    def apply(self, *items: Json) -> None:
        manifest = {"apiVersion": "v1", "kind": "List", "items": list(items)}
        self.cluster.kubectl("apply", "-n", self.apps, "-f", "-", input=json.dumps(manifest))

    def pods(self, app: str) -> list[Json]:
        found: list[Json] = self.json("get", "pods", "-n", self.apps, "-l", f"app={app}")["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def gate(self) -> Json:
        status: Json = self.json("get", "hg", APP, "-n", self.apps).get("status") or {}
        return status


@pytest.fixture(scope="module")
def flow(real_node: realnode.RealNode, kube_cluster: kube.KubeCluster) -> Iterator[Flow]:
    suffix = uuid.uuid4().hex[:5]
    apps = f"real-apps-{suffix}"
    kube_cluster.kubectl("create", "namespace", apps)
    labels = [f"{k}={v}" for k, v in release.RESTRICTED.items()]  # restricted, as the operator's
    kube_cluster.kubectl("label", "namespace", apps, *labels)
    rel = release.Release(kube_cluster, name=f"hg-{suffix}", namespace=f"real-hg-{suffix}")
    image = release.import_healthgate(real_node)
    chart_values = release.values(real_node, image=image, release=rel.name, watch=(apps,))
    try:
        took = rel.install(chart_values)
        progress(f"helm install -> operator Deployment Available and CA published: {took:.1f}s")
        yield Flow(kube_cluster, real_node, rel, apps)
    finally:
        rel.uninstall()
        kube_cluster.kubectl("delete", "namespace", apps, "--wait=false", check=False)


def ready(pod: Json) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_operator_runs_restricted_from_the_chart(flow: Flow) -> None:
    pods = wait_for(
        "both operator replicas Ready",
        lambda: (
            got if len(got := _operator_pods(flow)) == 2 and all(ready(p) for p in got) else None
        ),
        timeout=120,
    )
    for pod in pods:
        assert pod["spec"]["nodeName"] == flow.node.name
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        logs = flow.cluster.kubectl(
            "logs", pod["metadata"]["name"], "-n", flow.release.namespace
        ).stdout
        # e.g. Kopf retrying a list the chart's RBAC forbids
        assert "[ERROR" not in logs, logs

    def run(pod: Json, code: str) -> str:
        name = pod["metadata"]["name"]
        argv = ["exec", name, "-n", flow.release.namespace, "--", "python", "-c", code]
        proc = flow.cluster.kubectl(*argv, check=False)
        return proc.stdout + proc.stderr

    assert run(pods[0], "import os; print(os.getuid())").strip() == str(UID)
    assert "Read-only file system" in run(pods[0], "open('/opt/x', 'w')")


def _operator_pods(flow: Flow) -> list[Json]:
    selector = f"app.kubernetes.io/instance={flow.release.name}"
    found = flow.json("get", "pods", "-n", flow.release.namespace, "-l", selector)["items"]
    return [
        p for p in found if p["metadata"]["labels"].get("app.kubernetes.io/component") != "test"
    ]


@pytest.fixture(scope="module")
def redis_service(flow: Flow) -> str:
    """Debian's redis-server as a Deployment and Service ``redis``; returns the ClusterIP (pods
    have no cluster DNS yet)."""
    ref, archive = buildah.redis()
    assert flow.node.containerd is not None
    flow.node.containerd.import_archive(archive)
    labels = {"app": "redis"}
    server = {
        "name": "redis",
        "image": ref,
        "imagePullPolicy": "Never",
        "command": ["redis-server", "--port", "6379", "--requirepass", PASSWORD, "--save", ""],
        "args": ["--appendonly", "no", "--dir", "/data"],
        "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
    }
    spec = {
        **release.on_node(flow.node),
        "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [server],
    }
    flow.apply(
        _deployment("redis", 1, spec),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "redis"},
            "spec": {"selector": labels, "ports": [{"name": "redis", "port": 6379}]},
        },
    )
    wait_for("Redis Ready", lambda: [p for p in flow.pods("redis") if ready(p)], timeout=120)
    ip: str = flow.json("get", "service", "redis", "-n", flow.apps)["spec"]["clusterIP"]
    return ip


def _deployment(name: str, replicas: int, spec: Json) -> Json:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def _gate() -> Json:
    cache = {
        "name": "cache",
        "type": "redis",
        "intervalSeconds": 1,
        "timeoutSeconds": 0.5,
        "failureThreshold": 1,
        "redis": {"urlFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}},
    }
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": APP},
        "spec": {
            "selector": {"matchLabels": {"app": APP}},
            "dependencies": [cache],
            "probes": {
                "readiness": {"periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 1},
                "startup": {"periodSeconds": 1, "failureThreshold": 60},
            },
        },
    }


@pytest.fixture(scope="module")
def app(flow: Flow, redis_service: str) -> list[Json]:
    """The gate, then an app Deployment it selects; returns its pods once all are Ready."""
    url = f"redis://:{PASSWORD}@{redis_service}:6379/0"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "redis-auth"},
        "stringData": {"url": url},
    }
    flow.apply(secret, _gate())
    wait_for(
        "the gate's ConfigMap",
        lambda: (
            flow.cluster.kubectl(
                "get", "configmap", f"{APP}-healthgate", "-n", flow.apps, check=False
            ).returncode
            == 0
        ),
        timeout=60,
    )
    busybox = flow.node.import_image(images.busybox())
    container = {
        "name": "api",
        "image": busybox,
        "imagePullPolicy": "Never",
        "command": ["sleep", "100000"],
        "securityContext": RESTRICTED,
    }
    spec = {**release.on_node(flow.node), "terminationGracePeriodSeconds": 1}
    started = time.monotonic()
    flow.apply(_deployment(APP, REPLICAS, {**spec, "containers": [container]}))
    pods = wait_for("the app's pods Ready", lambda: _all(flow, ready), timeout=180)
    progress(f"app Deployment applied -> {REPLICAS} pods Ready: {time.monotonic() - started:.1f}s")
    return pods


def _all(flow: Flow, predicate: Any) -> list[Json] | None:
    pods = flow.pods(APP)
    return pods if len(pods) == REPLICAS and all(predicate(p) for p in pods) else None


def health(pod: Json) -> Json:
    """The sidecar's /health at the pod's IP (on the node's bridge); a 503 still has the body."""
    url = f"http://{pod['status']['podIP']}:8086/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: Json = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
    return body


def test_webhook_injects_through_the_service_and_the_kubelet_makes_pods_ready(
    flow: Flow, app: list[Json]
) -> None:
    hook = flow.json("get", "mutatingwebhookconfiguration", f"{flow.release.name}.healthgate.io")
    service = hook["webhooks"][0]["clientConfig"]["service"]
    assert (service["name"], service["namespace"]) == (
        flow.release.deployment,
        flow.release.namespace,
    )
    for pod in app:
        sidecars = [c for c in pod["spec"]["initContainers"] if c["name"] == "healthgate"]
        assert len(sidecars) == 1
        assert sidecars[0]["restartPolicy"] == "Always"
        status = pod["status"]["initContainerStatuses"][0]
        assert status["started"] is True
        assert status["restartCount"] == 0
        assert health(pod)["components"]["cache"]["status"] == "healthy"
    started = time.monotonic()
    status = wait_for(
        "the gate Healthy 2/2",
        lambda: (g if (g := flow.gate()).get("status") == "Healthy" and g.get("ready") == "2/2"
                 else None),
        timeout=60,
    )  # fmt: skip
    progress(f"pods Ready -> gate Healthy {status['ready']}: {time.monotonic() - started:.1f}s")
    assert status["pods"]["injected"] == REPLICAS


def _scale_redis(flow: Flow, replicas: int) -> None:
    flow.cluster.kubectl("scale", "deployment/redis", "-n", flow.apps, f"--replicas={replicas}")


def test_redis_outage_turns_the_gate_unhealthy_and_back(flow: Flow, app: list[Json]) -> None:
    """Asserted on the gate and on each sidecar's view of the dependency, not on pod readiness
    (what an outage does to readiness is a policy that may change)."""
    _scale_redis(flow, 0)
    started = time.monotonic()
    try:
        wait_for(
            "every sidecar seeing Redis down",
            lambda: _all(flow, lambda p: health(p)["components"]["cache"]["status"] != "healthy"),
            timeout=60,
        )
        seen = time.monotonic() - started
        wait_for("the gate Unhealthy", lambda: flow.gate().get("status") == "Unhealthy", timeout=60)
        progress(f"Redis scaled to 0 -> sidecars {seen:.1f}s, gate Unhealthy "
                 f"{time.monotonic() - started:.1f}s")  # fmt: skip
        assert "cache" in str(flow.gate().get("unhealthy"))
        for pod in flow.pods(APP):  # readiness, never liveness: no restarts
            assert all(s["restartCount"] == 0 for s in pod["status"]["initContainerStatuses"])
    finally:
        _scale_redis(flow, 1)
    started = time.monotonic()
    wait_for(
        "every sidecar seeing Redis back",
        lambda: _all(flow, lambda p: health(p)["components"]["cache"]["status"] == "healthy"),
        timeout=120,
    )
    wait_for("the gate Healthy", lambda: flow.gate().get("status") == "Healthy", timeout=60)
    progress(f"Redis scaled to 1 -> gate Healthy: {time.monotonic() - started:.1f}s")
    wait_for("the app's pods Ready again", lambda: _all(flow, ready), timeout=60)

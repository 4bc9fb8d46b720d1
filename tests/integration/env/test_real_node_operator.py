"""The chart's operator as pods on the real node, and the whole flow through it.

``helm install charts/healthgate`` with the image built from our Dockerfile: the operator runs
restricted (UID 65532, read-only root) and reaches the API server through the ``kubernetes``
Service (:mod:`tests.env.realnode.apiservice`); the API server calls its webhook through the
chart's Service (kube-proxy); the webhook injects the native sidecar into an app Deployment; the
kubelet's own probes make the pods Ready; the gate's status aggregates what the sidecars report;
Redis, a pod behind a Service, goes away and comes back. The tests run in file order; the
figures they print (``-s``) are measurements, never assertions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.env import kube, prometheus
from tests.env.common import progress, wait_for
from tests.env.realnode import buildah, dns, images, release
from tests.env.realnode import node as realnode

from .realflow import (
    APP,
    PASSWORD,
    REPLICAS,
    UID,
    Flow,
    Json,
    app_container,
    deployment,
    gate,
    health,
    query,
    ready,
    redis,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


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


@pytest.fixture(scope="module")
def redis_service(flow: Flow) -> str:
    """Redis as a pod behind the Service ``redis``; its name, which the sidecars resolve through
    the cluster's DNS as in any cluster."""
    ref, archive = buildah.redis()
    assert flow.node.containerd is not None
    flow.node.containerd.import_archive(archive, ref)
    flow.apply(*redis(flow.node, ref))
    wait_for("Redis Ready", lambda: [p for p in flow.pods("redis") if ready(p)], timeout=120)
    return f"redis.{flow.apps}.svc.{dns.DOMAIN}"


@pytest.fixture(scope="module")
def app(flow: Flow, redis_service: str) -> list[Json]:
    """The gate, then an app Deployment it selects; returns its pods once all are Ready."""
    url = f"redis://:{PASSWORD}@{redis_service}:6379/0"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-auth"}}
    flow.apply({**secret, "stringData": {"url": url}}, gate())
    configmap = ("get", "configmap", f"{APP}-healthgate", "-n", flow.apps)
    wait_for(
        "the gate's ConfigMap",
        lambda: flow.cluster.kubectl(*configmap, check=False).returncode == 0,
        timeout=60,
    )
    container = app_container(flow.node.import_image(images.busybox()))
    spec = {**release.on_node(flow.node), "terminationGracePeriodSeconds": 1}
    started = time.monotonic()
    flow.apply(deployment(APP, REPLICAS, {**spec, "containers": [container]}))
    pods = wait_for("the app's pods Ready", lambda: flow.all(ready), timeout=180)
    progress(f"app Deployment applied -> {REPLICAS} pods Ready: {time.monotonic() - started:.1f}s")
    return pods


def test_operator_runs_restricted_from_the_chart(flow: Flow) -> None:
    pods = wait_for(
        "both operator replicas Ready",
        lambda: got if len(got := flow.operator_pods()) == 2 and all(map(ready, got)) else None,
        timeout=120,
    )
    for pod in pods:
        assert pod["spec"]["nodeName"] == flow.node.name
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        name = pod["metadata"]["name"]
        logs = flow.cluster.kubectl("logs", name, "-n", flow.release.namespace).stdout
        assert "[ERROR" not in logs, logs  # e.g. Kopf retrying what the chart's RBAC forbids

    def run(code: str) -> str:
        name = pods[0]["metadata"]["name"]
        argv = ["exec", name, "-n", flow.release.namespace, "--", "python", "-c", code]
        proc = flow.cluster.kubectl(*argv, check=False)
        return proc.stdout + proc.stderr

    assert run("import os; print(os.getuid())").strip() == str(UID)
    assert "Read-only file system" in run("open('/opt/x', 'w')")


def wait_cache_healthy(pod: Json, timeout: float = 30) -> None:
    """Until the pod's sidecar reports its cache check healthy; a failure names the last answer."""
    seen: list[Json] = []

    def healthy() -> bool:
        seen.append(health(pod)["components"]["cache"])
        return seen[-1].get("status") == "healthy"

    try:
        wait_for("the sidecar's cache check healthy", healthy, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last cache component: {seen[-1] if seen else None}") from None


def test_webhook_injects_through_the_service_and_the_kubelet_makes_pods_ready(
    flow: Flow, app: list[Json]
) -> None:
    hook = flow.json("get", "mutatingwebhookconfiguration", f"{flow.release.name}.healthgate.io")
    service = hook["webhooks"][0]["clientConfig"]["service"]
    assert service["name"] == flow.release.deployment
    assert service["namespace"] == flow.release.namespace
    for pod in app:
        sidecars = [c for c in pod["spec"]["initContainers"] if c["name"] == "healthgate"]
        assert len(sidecars) == 1
        assert sidecars[0]["restartPolicy"] == "Always"
        status = pod["status"]["initContainerStatuses"][0]
        assert status["started"] is True
        assert status["restartCount"] == 0
        # Ready said healthy a moment ago; on a machine busy with the other worker's tests one
        # check may time out in between: wait for a healthy result (a failure shows the last).
        wait_cache_healthy(pod)
    started = time.monotonic()
    status = wait_for(
        "the gate Healthy 2/2",
        lambda: (
            g if (g := flow.gate()).get("status") == "Healthy" and g["ready"] == "2/2" else None
        ),
        timeout=60,
    )
    progress(f"pods Ready -> gate Healthy {status['ready']}: {time.monotonic() - started:.1f}s")
    assert status["pods"]["injected"] == REPLICAS
    mean, calls = flow.webhook_seconds()
    assert calls >= REPLICAS  # the API server called it for each pod
    progress(f"pod webhook through the Service, as the API server measures it: {calls} calls, "
             f"mean {mean * 1000:.1f} ms")  # fmt: skip


def _scale(flow: Flow, name: str, replicas: int) -> None:
    flow.cluster.kubectl("scale", f"deployment/{name}", "-n", flow.apps, f"--replicas={replicas}")


def test_redis_outage_turns_the_gate_unhealthy_and_back(flow: Flow, app: list[Json]) -> None:
    """Asserted on the gate and on each sidecar's view of the dependency, not on pod readiness
    (what an outage does to readiness is a policy that may change)."""
    _scale(flow, "redis", 0)
    started = time.monotonic()
    try:
        wait_for(
            "every sidecar seeing Redis down",
            lambda: flow.all(lambda p: health(p)["components"]["cache"]["status"] != "healthy"),
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
        _scale(flow, "redis", 1)
    started = time.monotonic()
    wait_for(
        "every sidecar seeing Redis back",
        lambda: flow.all(lambda p: health(p)["components"]["cache"]["status"] == "healthy"),
        timeout=120,
    )
    wait_for("the gate Healthy", lambda: flow.gate().get("status") == "Healthy", timeout=60)
    progress(f"Redis scaled to 1 -> gate Healthy: {time.monotonic() - started:.1f}s")
    wait_for("the app's pods Ready again", lambda: flow.all(ready), timeout=60)


def test_active_replica_deleted_the_other_takes_over(flow: Flow, app: list[Json]) -> None:
    """Kopf peering: the replica of highest priority works (its identity is its pod name, from
    POD_ID); deleted, another works the gates and the webhook keeps injecting."""
    peers = wait_for("both replicas in the peering", flow.peers, timeout=60)
    active = max(peers, key=lambda name: peers[name]["priority"])
    flow.cluster.kubectl("delete", "pod", active, "-n", flow.release.namespace, "--wait=false")
    started = time.monotonic()
    _scale(flow, APP, 3)
    status = wait_for(
        "the gate Healthy 3/3",
        lambda: (
            g if (g := flow.gate()).get("ready") == "3/3" and g["status"] == "Healthy" else None
        ),
        timeout=120,
    )
    progress(f"active replica deleted -> gate Healthy 3/3: {time.monotonic() - started:.1f}s")
    assert status["pods"]["injected"] == 3
    assert active not in (flow.peers() or {})


def test_gate_edit_reaches_running_sidecars(flow: Flow, app: list[Json]) -> None:
    """Through the ConfigMap volume, as fast as the kubelet refreshes it (its sync period)."""
    closed = {"host": "127.0.0.1", "port": 9}  # nothing listens in the pod: `connect` fails
    extra = {"name": "llm-gateway", "type": "tcp", "critical": False, "tcp": closed}
    started = time.monotonic()
    flow.apply(gate({**extra, "intervalSeconds": 1, "timeoutSeconds": 0.5}))
    wait_for(
        "the new dependency in every sidecar",
        lambda: flow.all(lambda p: "llm-gateway" in health(p)["components"], replicas=3),
        timeout=180,
    )
    progress(f"gate edit -> every running sidecar checks it: {time.monotonic() - started:.1f}s")
    wait_for("the gate Degraded", lambda: flow.gate().get("status") == "Degraded", timeout=60)
    assert flow.all(ready, replicas=3), "a non-critical dependency keeps pods Ready"


def test_prometheus_scrapes_every_sidecar_at_its_pod_ip(
    flow: Flow, app: list[Json], make_prometheus: Callable[[str], prometheus.PrometheusServer]
) -> None:
    """Pod discovery through the API server and the annotations the webhook set; the scrapes
    go to the pods' IPs on the node's bridge."""
    flow.cluster.kubectl("apply", "-f", "-", input=prometheus.PROMETHEUS_RBAC)
    pair = flow.cluster.ca.issue("prometheus", "healthgate-local-prometheus", client=True)
    server = make_prometheus(
        prometheus.kubernetes_pods_config(
            api_server=flow.cluster.server,
            ca_file=flow.cluster.ca.cert,
            cert_file=pair.cert,
            key_file=pair.key,
        )
    )
    ips = {p["status"]["podIP"] for p in flow.pods(APP)}

    def scraped() -> list[Json] | None:
        up = [s for s in query(server, f'up{{namespace="{flow.apps}"}}') if s["value"][1] == "1"]
        return up if len(up) == len(ips) else None

    targets = wait_for("every sidecar scraped", scraped, timeout=60)
    assert {t["metric"]["instance"].split(":")[0] for t in targets} == ips
    cache = f'healthgate_dependency_up{{namespace="{flow.apps}",dependency="cache"}}'
    pods = {p["metadata"]["name"] for p in flow.pods(APP)}
    assert {s["metric"]["pod"] for s in query(server, cache)} == pods


def test_helm_test_passes(flow: Flow) -> None:
    """The chart's test pod reads the operator's /metrics through the Service."""
    proc = flow.cluster.helm(
        "test", flow.release.name, "-n", flow.release.namespace, "--timeout=120s", check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Succeeded" in proc.stdout

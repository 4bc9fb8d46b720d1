"""A Deployment guarded by a HealthGate, end to end, in the order a user lives it.

The tests of this module share one Deployment (3 replicas) and one Redis and run in file order:
deploy and become Ready; lose Redis and go NotReady (policy FailClosed, the behaviour without the
shared-outage guard); get Redis back; rotate the Redis Secret under running pods; add a failing
non-critical dependency to the running gate; be scraped by Prometheus through pod discovery;
delete the gate.

They run locally by default (the real node, HealthGate from the chart) and against a kind cluster
under ``make kind-e2e`` (see conftest.py); the one check that needs this machine (Prometheus on
the host scraping pod IPs) says so and is skipped there.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from tests.env import common, prometheus, redis
from tests.env.common import wait_for
from tests.env.incluster import ChartOperator
from tests.integration.operator import objects

from .backends import E2EBackend, E2ERedis, Json, kind_mode

# kind pulls images and the chart's operator refreshes gate status every 2 s there
# (hack/kind-e2e.sh): every wait gets three times the room. Locally the images are imported.
PATIENCE = 3 if kind_mode() else 1

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300 * PATIENCE)]

APP = "story-api"
REPLICAS = 3
PERIOD = 1  # readiness probe periodSeconds
INTERVAL = 1.0  # dependency check intervalSeconds
# Redis down -> pod NotReady: the check fails within interval + timeout, the sidecar turns
# unhealthy after failureThreshold (1) results, the kubelet notices within one probe
# period times its failureThreshold (1); generous slack for a loaded 2-core machine.
NOT_READY_WINDOW = INTERVAL + 0.5 + PERIOD + 10 * PATIENCE
# This flow is the one without the shared-outage guard (tests/e2e/test_shared_outage.py has
# the default, FailOpen): a Redis outage drains every pod.
FAIL_CLOSED: Json = {"policy": "FailClosed"}


def redis_dep(**extra: Any) -> Json:
    return {
        "name": "cache",
        "type": "redis",
        "intervalSeconds": INTERVAL,
        "timeoutSeconds": 0.5,
        "failureThreshold": 1,
        "redis": {"urlFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}},
        **extra,
    }


def gate(
    e2e: E2EBackend,
    namespace: str,
    dependencies: list[Json],
    shared_outage: Json | None = None,
    sidecar: Json | None = None,
) -> Json:
    """The suite's gate; ``shared_outage``/``sidecar``: its spec.sharedOutage and spec.sidecar
    (absent: the defaults)."""
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": APP}},
            "dependencies": dependencies,
            "probes": {
                "readiness": {"periodSeconds": PERIOD, "failureThreshold": 1, "timeoutSeconds": 1},
                "liveness": {"periodSeconds": 5, "failureThreshold": 3},
                "startup": {"periodSeconds": 1, "failureThreshold": 30},
            },
            **({"sharedOutage": shared_outage} if shared_outage else {}),
            **({"sidecar": sidecar} if sidecar else {}),
        },
    }


def deployment(e2e: E2EBackend, namespace: str) -> Json:
    return objects.sleeping_app(
        APP,
        namespace,
        replicas=REPLICAS,
        image=e2e.app_image,
        container="api",
        pod_spec=e2e.pod_spec(),
    )


def pod_ready(pod: Json) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def gate_status(e2e: E2EBackend, namespace: str) -> Json:
    status: Json = e2e.json("get", "hg", APP, "-n", namespace).get("status") or {}
    return status


@pytest.fixture(scope="module")
def deployed(
    e2e: E2EBackend, healthgate_operator: ChartOperator, e2e_namespace: str, e2e_redis: E2ERedis
) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "redis-auth", "namespace": e2e_namespace},
        "stringData": {"url": e2e_redis.url},
    }
    # The gate first: the webhook injects pods created after it.
    e2e.apply(secret, gate(e2e, e2e_namespace, [redis_dep()], FAIL_CLOSED))
    wait_for(
        "the gate's ConfigMap",
        lambda: e2e.run("get", "configmap", f"{APP}-healthgate", "-n", e2e_namespace, check=False),
    )
    e2e.apply(deployment(e2e, e2e_namespace))
    return e2e_namespace


def all_pods(e2e: E2EBackend, ns: str, predicate: Callable[[Json], bool]) -> list[Json] | None:
    pods = e2e.pods(ns, APP)
    return pods if len(pods) == REPLICAS and all(predicate(p) for p in pods) else None


def test_pods_get_the_sidecar_start_and_become_ready(e2e: E2EBackend, deployed: str) -> None:
    started = time.monotonic()
    pods = wait_for(
        "3 ready pods", lambda: all_pods(e2e, deployed, pod_ready), timeout=120 * PATIENCE
    )
    # The Deployment was applied as the fixture's last step, an instant before.
    took = time.monotonic() - started
    common.progress(f"Deployment applied -> {REPLICAS} pods Ready: {took:.1f}s")
    for pod in pods:
        sidecars = [c for c in pod["spec"].get("initContainers", []) if c["name"] == "healthgate"]
        assert len(sidecars) == 1, "exactly one injected native sidecar"
        assert sidecars[0]["restartPolicy"] == "Always"
        status = pod["status"]["initContainerStatuses"][0]
        assert status["containerID"].startswith("containerd://"), "a container ran it"
        assert e2e.sidecar_health(pod)["components"]["cache"]["status"] == "healthy"
    assert len({p["status"]["podIP"] for p in pods}) == REPLICAS
    status = wait_for(
        "the gate Healthy 3/3",
        lambda: (
            gate_status(e2e, deployed)
            if gate_status(e2e, deployed).get("ready") == "3/3"
            and gate_status(e2e, deployed).get("status") == "Healthy"
            else None
        ),
        timeout=60 * PATIENCE,
    )
    assert status["pods"]["injected"] == REPLICAS
    table = e2e.run("get", "hg", "-n", deployed)
    assert "Healthy" in table
    assert "3/3" in table


def test_redis_down_makes_every_pod_not_ready_and_the_gate_unhealthy(
    e2e: E2EBackend, deployed: str, e2e_redis: E2ERedis
) -> None:
    wait_for("3 ready pods", lambda: all_pods(e2e, deployed, pod_ready), timeout=60 * PATIENCE)
    e2e_redis.stop()
    try:
        started = time.monotonic()
        wait_for(
            "every pod NotReady",
            lambda: all_pods(e2e, deployed, lambda p: not pod_ready(p)),
            timeout=NOT_READY_WINDOW,
        )
        common.progress(f"Redis stopped -> every pod NotReady: {time.monotonic() - started:.1f}s")
        wait_for(
            "the gate Unhealthy",
            lambda: gate_status(e2e, deployed).get("status") == "Unhealthy",
            timeout=30 * PATIENCE,
        )
        assert "cache" in str(gate_status(e2e, deployed).get("unhealthy"))
        shared = [
            c for c in gate_status(e2e, deployed)["conditions"] if c["type"] == "SharedOutage"
        ]
        assert [(c["status"], c["reason"]) for c in shared] == [("False", "FailClosed")]
        # The Event waits until the count of failing pods is the same at two refreshes in a
        # row, so that its "N of M" is true when read: it may follow the status by a refresh.
        wait_for(
            "the DependencyUnhealthy Event",
            lambda: any(
                e["involvedObject"]["name"] == APP
                for e in e2e.json(
                    "get",
                    "events",
                    "-n",
                    deployed,
                    "--field-selector",
                    "reason=DependencyUnhealthy",
                )["items"]
            ),
            timeout=10 * PATIENCE,
        )
        for pod in e2e.pods(deployed, APP):  # readiness, never liveness: no restarts
            statuses = pod["status"].get("initContainerStatuses", [])
            assert all(s["restartCount"] == 0 for s in statuses)
    finally:
        e2e_redis.start()


def test_redis_back_recovers_pods_and_gate(e2e: E2EBackend, deployed: str) -> None:
    started = time.monotonic()  # Redis was started again, and waited for, at the last test's end
    wait_for(
        "3 ready pods again", lambda: all_pods(e2e, deployed, pod_ready), timeout=60 * PATIENCE
    )
    common.progress(f"Redis Ready again -> every pod Ready: {time.monotonic() - started:.1f}s")
    wait_for(
        "the gate Healthy",
        lambda: gate_status(e2e, deployed).get("status") == "Healthy",
        timeout=30 * PATIENCE,
    )
    wait_for(
        "the DependencyRecovered Event",
        lambda: e2e.json(
            "get", "events", "-n", deployed, "--field-selector", "reason=DependencyRecovered"
        )["items"],
        timeout=10 * PATIENCE,
    )


def sidecar_restarts(pods: list[Json]) -> dict[str, int]:
    return {
        p["metadata"]["name"]: sum(
            c.get("restartCount", 0) for c in p["status"].get("initContainerStatuses", [])
        )
        for p in pods
    }


def patch_redis_url(e2e: E2EBackend, ns: str, url: str) -> None:
    data = {"data": {"url": base64.b64encode(url.encode()).decode()}}
    e2e.run("patch", "secret", "redis-auth", "-n", ns, "-p", json.dumps(data))


def test_a_rotated_secret_reaches_running_sidecars_without_a_restart(
    e2e: E2EBackend, deployed: str, e2e_redis: E2ERedis
) -> None:
    """The Secret volume path end to end: the kubelet rewrites the projected file, the sidecar
    rebuilds its client. A wrong password turns every pod's check ``auth``-unhealthy; the right
    one brings them back; no pod is replaced and no sidecar restarts on the way."""
    before = wait_for(
        "3 ready pods", lambda: all_pods(e2e, deployed, pod_ready), timeout=60 * PATIENCE
    )
    restarts = sidecar_restarts(before)

    def cache(pod: Json) -> Json:
        found: Json = e2e.sidecar_health(pod)["components"]["cache"]
        return found

    patch_redis_url(e2e, deployed, e2e_redis.url.replace(redis.PASSWORD, "wrong-password"))
    try:
        started = time.monotonic()
        wait_for(
            "every sidecar's cache check failing with reason auth",
            lambda: all(cache(p).get("reason") == "auth" for p in before),
            timeout=120 * PATIENCE,
        )
        common.progress(
            f"Secret patched -> every sidecar auth-unhealthy: {time.monotonic() - started:.1f}s"
        )
    finally:
        patch_redis_url(e2e, deployed, e2e_redis.url)
    after = wait_for(
        "3 ready pods with a healthy cache check",
        lambda: all_pods(e2e, deployed, lambda p: pod_ready(p) and cache(p)["status"] == "healthy"),
        timeout=120 * PATIENCE,
    )
    assert sidecar_restarts(after) == restarts, "same pods, no sidecar restarted"


def test_new_non_critical_dependency_reaches_running_sidecars_and_only_degrades(
    e2e: E2EBackend, deployed: str
) -> None:
    before = {p["metadata"]["uid"] for p in e2e.pods(deployed, APP)}
    closed = common.free_port()  # nothing listens: the check fails with `connect`
    extra = {
        "name": "llm-gateway",
        "type": "tcp",
        "critical": False,
        "intervalSeconds": INTERVAL,
        "timeoutSeconds": 0.5,
        "failureThreshold": 1,
        "tcp": {"host": "127.0.0.1", "port": closed},
    }
    started = time.monotonic()
    e2e.apply(gate(e2e, deployed, [redis_dep(), extra], FAIL_CLOSED))

    def sidecars_see_it() -> bool:
        pods = e2e.pods(deployed, APP)
        return len(pods) == REPLICAS and all(
            e2e.sidecar_health(p)["components"].get("llm-gateway", {}).get("status") == "unhealthy"
            for p in pods
        )

    # Through the ConfigMap volume: the kubelet refreshes it on its own sync period (a minute
    # by default, 10 s on the local test node; plus its cache's TTL), not at once.
    wait_for(
        "the new dependency in every sidecar (hot reload)", sidecars_see_it, timeout=180 * PATIENCE
    )
    common.progress(f"gate edit -> every running sidecar checks it: "
                    f"{time.monotonic() - started:.1f}s")  # fmt: skip
    wait_for(
        "the gate Degraded",
        lambda: gate_status(e2e, deployed).get("status") == "Degraded",
        timeout=30 * PATIENCE,
    )
    pods = e2e.pods(deployed, APP)
    assert {p["metadata"]["uid"] for p in pods} == before, "no pod was replaced"
    assert all(pod_ready(p) for p in pods), "a non-critical dependency keeps pods Ready"
    assert all(
        s["restartCount"] == 0 for p in pods for s in p["status"].get("initContainerStatuses", [])
    )


def prom_query(server: prometheus.PrometheusServer, query: str) -> list[Json]:
    url = f"{server.url}/api/v1/query?query={urllib.parse.quote(query)}"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
        result: list[Json] = json.loads(resp.read())["data"]["result"]
    return result


def test_prometheus_discovers_and_scrapes_every_sidecar(
    e2e: E2EBackend,
    deployed: str,
    make_prometheus: Callable[[str], prometheus.PrometheusServer],
) -> None:
    kube_cluster = e2e.local_only(
        "a Prometheus on this machine cannot reach pods inside kind"
    ).kube_cluster
    e2e.run("apply", "-f", "-", input=prometheus.PROMETHEUS_RBAC)
    pair = kube_cluster.ca.issue("prometheus", "healthgate-local-prometheus", client=True)
    server = make_prometheus(
        prometheus.kubernetes_pods_config(
            api_server=kube_cluster.server,
            ca_file=kube_cluster.ca.cert,
            cert_file=pair.cert,
            key_file=pair.key,
        )
    )
    ips = {p["status"]["podIP"] for p in e2e.pods(deployed, APP)}

    def scraped() -> list[Json] | None:
        up = [
            s for s in prom_query(server, f'up{{namespace="{deployed}"}}') if s["value"][1] == "1"
        ]
        return up if len(up) == REPLICAS else None

    targets = wait_for("3 sidecar targets up", scraped, timeout=60)
    assert {t["metric"]["instance"].split(":")[0] for t in targets} == ips
    series = prom_query(
        server, f'healthgate_dependency_up{{namespace="{deployed}",dependency="cache"}}'
    )
    assert {s["metric"]["pod"] for s in series} == {
        p["metadata"]["name"] for p in e2e.pods(deployed, APP)
    }
    assert all(s["value"][1] == "1" for s in series)


def test_deleting_the_gate_garbage_collects_its_configmap(e2e: E2EBackend, deployed: str) -> None:
    e2e.run("delete", "hg", APP, "-n", deployed)
    wait_for(
        "the ConfigMap gone",
        lambda: e2e.run("get", "configmap", f"{APP}-healthgate", "-n", deployed, check=False) == "",
        timeout=60 * PATIENCE,
    )

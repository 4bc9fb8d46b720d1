"""The shared-outage guard end to end: a Redis every pod shares goes down, the app keeps serving.

One Deployment (3 replicas) guarded by a gate with the default ``sharedOutage`` policy
(FailOpen), with Redis as a pod behind a Service and the chart's operator, in file order:
Redis stops and the gate reports a shared outage while the pods stay or return Ready; forged,
replayed and other-gate directives sent from the host are refused; the operator stops and the
sidecars return to their own verdict after the directive's lifetime; it starts again and the
shared state resumes without a second entry Event; Redis returns and all is normal; a rollout
whose new pod cannot reach Redis (a wrong password) stalls, only that pod NotReady.

The tests stop the operator by scaling its Deployment to 0, sign directives with the key the
chart generated (its Secret, read as admin) and reach sidecars where the backend says (pod IPs
here, the API server's pod proxy in kind), so they run in local and kind mode alike.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from healthgate_sidecar import directive_format
from healthgate_sidecar.directive_format import Directive, FailOpen
from tests.env import redis
from tests.env.common import wait_for
from tests.env.incluster import ChartOperator

from .backends import E2EBackend, E2ERedis, Json
from .test_flow import APP, REPLICAS, deployment, gate, pod_ready, redis_dep

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def signing_key(healthgate_operator: ChartOperator) -> ed25519.Ed25519PrivateKey:
    return healthgate_operator.directive_key()


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
    # Default policy: FailOpen. Secrets as environment variables, which keep their value until a
    # pod restarts: the rollout test gives only its new pod a wrong password by patching the
    # Secret. (With the default Secret volume, the kubelet would hand the old pods the wrong
    # password too at its next sync: a shared problem, which test_flow covers.)
    sidecar = {"secretsAs": "env"}
    e2e.apply(secret, gate(e2e, e2e_namespace, [redis_dep()], sidecar=sidecar))
    wait_for(
        "the gate's ConfigMap",
        lambda: e2e.run("get", "configmap", f"{APP}-healthgate", "-n", e2e_namespace, check=False),
    )
    e2e.apply(deployment(e2e, e2e_namespace))
    wait_for("3 ready pods", lambda: every_pod(e2e, e2e_namespace, ready=True), timeout=120)
    return e2e_namespace


def every_pod(e2e: E2EBackend, ns: str, *, ready: bool) -> list[Json] | None:
    pods = e2e.pods(ns, APP)
    ok = len(pods) == REPLICAS and all(pod_ready(p) == ready for p in pods)
    return pods if ok else None


def status(e2e: E2EBackend, ns: str) -> Json:
    found: Json = e2e.json("get", "hg", APP, "-n", ns).get("status") or {}
    return found


def condition(e2e: E2EBackend, ns: str) -> Json:
    found = [c for c in status(e2e, ns).get("conditions", []) if c["type"] == "SharedOutage"]
    return found[0] if found else {}


def events(e2e: E2EBackend, ns: str, reason: str) -> int:
    items = e2e.json("get", "events", "-n", ns, "--field-selector", f"reason={reason}")["items"]
    return sum(int(e.get("count") or 1) for e in items if e["involvedObject"]["name"] == APP)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - http, pods or proxy
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sidecar(e2e: E2EBackend, pod: Json, path: str) -> tuple[int, str]:
    return get(e2e.sidecar_url(pod, path))


def post(e2e: E2EBackend, pod: Json, data: bytes) -> int:
    url = e2e.sidecar_url(pod, directive_format.PATH)
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - http
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - http, pods or proxy
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def signed(key: ed25519.Ed25519PrivateKey, gate_uid: str, issued: float, names: list[str]) -> bytes:
    directive = Directive(
        gate=gate_uid,
        issued_at=issued,
        expires_at=time.time() + 60,
        fail_open=tuple(FailOpen(n, 3, 3) for n in names),
    )
    payload = directive_format.encode_payload(directive)
    return directive_format.envelope(payload, key.sign(payload))


def failing_open_everywhere(e2e: E2EBackend, ns: str) -> bool:
    pods = every_pod(e2e, ns, ready=True)
    return pods is not None and all(
        json.loads(sidecar(e2e, p, "/health")[1]).get("failingOpen")
        == {"cache": "unhealthy in 3/3 pods"}
        for p in pods
    )


def test_redis_down_everywhere_is_a_shared_outage_and_pods_stay_ready(
    e2e: E2EBackend, deployed: str, e2e_redis: E2ERedis, healthgate_operator: ChartOperator
) -> None:
    assert condition(e2e, deployed).get("status") == "False"
    e2e_redis.stop()
    wait_for("the gate's shared outage", lambda: status(e2e, deployed).get("sharedOutage"))
    assert status(e2e, deployed)["sharedOutage"] == ["cache"]
    cond = condition(e2e, deployed)
    assert (cond["status"], cond["reason"]) == ("True", "FailingOpen")
    assert "cache (unhealthy in 3/3 pods)" in cond["message"]
    wait_for("every pod Ready, failing open", lambda: failing_open_everywhere(e2e, deployed))
    for pod in e2e.pods(deployed, APP):
        health = json.loads(sidecar(e2e, pod, "/health")[1])
        assert health["components"]["cache"]["status"] == "unhealthy"  # still shown
        code, text = sidecar(e2e, pod, "/readyz?verbose")
        assert code == 200
        assert "[~]cache failing open: unhealthy in 3/3 pods" in text.splitlines()
        assert (
            'healthgate_dependency_failing_open{dependency="cache"} 1.0'
            in sidecar(e2e, pod, "/metrics")[1]
        )
    wait_for("the gate Unhealthy", lambda: status(e2e, deployed).get("status") == "Unhealthy")
    assert (
        f'healthgate_gate_dependency_shared_outage{{dependency="cache",name="{APP}",'
        f'namespace="{deployed}"}} 1.0' in healthgate_operator.metrics()
    )
    wait_for("the entry Event", lambda: events(e2e, deployed, "SharedOutageStarted") == 1)


def test_directives_from_the_host_are_refused_unless_genuine_and_fresh(
    e2e: E2EBackend, deployed: str, signing_key: ed25519.Ed25519PrivateKey
) -> None:
    uid = e2e.json("get", "hg", APP, "-n", deployed)["metadata"]["uid"]
    pod = e2e.pods(deployed, APP)[0]
    forged = signed(ed25519.Ed25519PrivateKey.generate(), uid, time.time(), [])
    assert post(e2e, pod, forged) == 403
    other_gate = signed(signing_key, "another-gate-uid", time.time(), [])
    assert post(e2e, pod, other_gate) == 403
    # Genuine, but older than what the operator sent since: a replay, refused.
    assert post(e2e, pod, signed(signing_key, uid, time.time() - 30, [])) == 409
    assert post(e2e, pod, b"{" + b" " * (directive_format.MAX_BODY + 10) + b"}") == 413
    # None of them ended the shared outage in that pod.
    assert json.loads(sidecar(e2e, pod, "/health")[1])["failingOpen"] == {
        "cache": "unhealthy in 3/3 pods"
    }
    assert pod_ready(e2e.json("get", "pod", pod["metadata"]["name"], "-n", deployed))


def test_without_the_operator_sidecars_return_to_their_own_verdict(
    e2e: E2EBackend, deployed: str, healthgate_operator: ChartOperator
) -> None:
    healthgate_operator.stop()
    try:
        wait_for(
            "every pod NotReady once the directive expired",
            lambda: every_pod(e2e, deployed, ready=False),
            timeout=60,
        )
        for pod in e2e.pods(deployed, APP):
            assert "failingOpen" not in json.loads(sidecar(e2e, pod, "/health")[1])
    finally:
        healthgate_operator.start()
    wait_for("every pod Ready again", lambda: failing_open_everywhere(e2e, deployed), timeout=60)
    assert events(e2e, deployed, "SharedOutageStarted") == 1  # carried on, not entered again


def test_redis_back_ends_the_shared_outage(
    e2e: E2EBackend, deployed: str, e2e_redis: E2ERedis
) -> None:
    e2e_redis.start()
    wait_for("the end Event", lambda: events(e2e, deployed, "SharedOutageEnded") == 1, timeout=60)
    wait_for("the gate Healthy", lambda: status(e2e, deployed).get("status") == "Healthy")
    assert status(e2e, deployed).get("sharedOutage") == []
    assert condition(e2e, deployed)["status"] == "False"
    pods = wait_for("3 ready pods", lambda: every_pod(e2e, deployed, ready=True))
    for pod in pods:
        assert "failingOpen" not in json.loads(sidecar(e2e, pod, "/health")[1])


def test_a_rollout_whose_new_pod_cannot_reach_redis_stalls(
    e2e: E2EBackend, deployed: str, e2e_redis: E2ERedis
) -> None:
    wrong = e2e_redis.url.replace(redis.PASSWORD, "wrong-password")
    secret_url = base64.b64encode(wrong.encode()).decode()
    e2e.run(
        "patch",
        "secret",
        "redis-auth",
        "-n",
        deployed,
        "-p",
        json.dumps({"data": {"url": secret_url}}),
    )
    e2e.run("rollout", "restart", f"deployment/{APP}", "-n", deployed)

    def one_new_pod_failing() -> list[Json] | None:
        pods = e2e.pods(deployed, APP)
        bad = [p for p in pods if not pod_ready(p)]
        return pods if len(pods) == REPLICAS + 1 and len(bad) == 1 else None

    wait_for("the new pod NotReady", one_new_pod_failing, timeout=60)
    wait_for(
        "the gate counting one pod with cache unhealthy",
        lambda: any(
            d["name"] == "cache" and d["unhealthy"] == 1
            for d in status(e2e, deployed).get("dependencies", [])
        ),
    )
    # Longer than the shared state would need to begin (entryRefreshes 2 at 1 s refreshes):
    # a pod-local failure must never get there. A wait, not a timing assertion.
    for _ in range(8):
        time.sleep(1)
        assert status(e2e, deployed).get("sharedOutage") == []
        assert one_new_pod_failing() is not None, "only the new pod is NotReady"
    rollout = e2e.json("get", "deployment", APP, "-n", deployed)["status"]
    assert rollout.get("updatedReplicas") == 1, "the rollout stalled at its first new pod"

"""Webhook admission latency with 100 HealthGates in the namespace.

Three views of the same work:
1. the webhook timed directly: AdmissionReview POSTs to the operator's HTTPS endpoint;
2. pod creation through the API server, compared with a namespace the webhook excludes;
3. the API server's own ``apiserver_admission_webhook_admission_duration_seconds`` histogram
   (quantiles interpolated from its buckets, as Prometheus' histogram_quantile does).

Run: ``python -m bench.operator_webhook``. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.request
import uuid
from typing import Any

from bench._operator_env import GATES, Api, Env, environment, gate, percentiles, wait_count

GATE_COUNT = 100
PODS = 200
DIRECT = 500
METRIC = "apiserver_admission_webhook_admission_duration_seconds"
OPERATOR_METRIC = "healthgate_webhook_admission_duration_seconds"


def pod(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    }


def review(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": pod("", namespace) | {"metadata": {"labels": {"app": "api"}}},
            "dryRun": False,
        },
    }


def direct(env: Env, namespace: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed; TLS cost is still paid
    conn = http.client.HTTPSConnection("127.0.0.1", env.running().webhook_port, context=context)
    samples = []
    for _ in range(DIRECT):
        body = json.dumps(review(namespace)).encode()
        started = time.perf_counter()
        conn.request("POST", "/inject-sidecar", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status} {resp.reason}: {raw[:300]!r}")
        answer = json.loads(raw)
        samples.append(time.perf_counter() - started)
        assert answer["response"]["allowed"], answer
        assert answer["response"].get("patch"), answer
    print(f"webhook timed directly (keep-alive HTTPS, {GATE_COUNT} gates): {percentiles(samples)}")


def create_pods(api: Api, namespace: str, prefix: str) -> list[float]:
    samples = []
    for i in range(PODS):
        started = time.perf_counter()
        status, _ = api.call(
            "POST", f"/api/v1/namespaces/{namespace}/pods", pod(f"{prefix}{i}", namespace)
        )
        samples.append(time.perf_counter() - started)
        assert status == 201, status
    return samples


def buckets_of(text: str, metric: str, match: str = "") -> dict[float, float]:
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{metric}_bucket{{") and match in line:
            le = line.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.split()[-1])
    return out


def histogram_quantiles(after: dict[float, float], before: dict[float, float] | None = None) -> str:
    buckets = sorted((le, count - (before or {}).get(le, 0.0)) for le, count in after.items())
    if not buckets or buckets[-1][1] == 0:
        return "no samples"
    total = buckets[-1][1]

    def quantile(q: float) -> float:
        rank, prev_le, prev_count = q * total, 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if le == float("inf"):
                    return prev_le
                return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1)
            prev_le, prev_count = le, count
        return prev_le

    return f"n={total:.0f} p50~{quantile(0.5) * 1000:.1f} ms p99~{quantile(0.99) * 1000:.1f} ms"


def operator_metrics(env: Env) -> str:
    url = f"http://127.0.0.1:{env.running().metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def gated_namespace(
    env: Env, name: str, *, status_interval: float = 30, prelude: str = ""
) -> tuple[str, Api]:
    """The operator (status every 30 s) and namespace ``name`` with GATE_COUNT gates ready.

    One gate selects the pods (label app=api); the other 99 select other apps but are still read.
    """
    stale = max(180.0, 3 * status_interval)  # the default, or above a long interval
    env.start_operator(
        f"--refresh-stale-after={stale:.0f}", status_interval=status_interval, prelude=prelude
    )
    ns = env.namespace(name)
    api = Api(env.cluster)
    apply_gates(api, ns)
    return ns, api


def apply_gates(api: Api, ns: str) -> None:
    """GATE_COUNT gates in ``ns``, waiting until each has its ConfigMap."""
    for i in range(GATE_COUNT):
        body = gate(f"g{i:03d}", ns, app="api" if i == 0 else f"other-{i}")
        assert api.call("POST", GATES.format(ns=ns), body)[0] == 201

    def configmaps() -> int:
        path = f"/api/v1/namespaces/{ns}/configmaps?labelSelector=healthgate.io/gate"
        return len(api.call("GET", path)[1].get("items", []))

    wait_count("ConfigMaps", configmaps, GATE_COUNT, timeout=300)


def main() -> None:
    with environment() as env:
        ns, api = gated_namespace(env, "hooked")
        direct(env, ns)
        before = buckets_of(operator_metrics(env), OPERATOR_METRIC)
        hooked = create_pods(api, ns, "p")
        inside = histogram_quantiles(buckets_of(operator_metrics(env), OPERATOR_METRIC), before)
        baseline = create_pods(api, "kube-public", "base")
        print(f"pod create via the API server, webhook called:     {percentiles(hooked)}")
        print(f"pod create via the API server, namespace excluded: {percentiles(baseline)}")
        api.conn.request("GET", "/metrics")
        metrics = api.conn.getresponse().read().decode()
        seen = histogram_quantiles(buckets_of(metrics, METRIC, 'name="inject.healthgate.io"'))
        print(f"API server's view of the webhook call:      {seen}")
        print(f"operator's view (request in -> answer out): {inside}")


if __name__ == "__main__":
    main()

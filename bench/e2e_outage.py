"""End-to-end timings on the local environment: outage to NotReady, recovery, status cycle.

Runs the real control plane, the real node (kubelet, containerd; ``tests/env/realnode``), the
operator as a process on this machine (so its CPU can be read) and Redis on loopback, which pods
reach through a relay on the node bridge's address; deploys ``--pods`` replicas
under one HealthGate, then stops Redis and measures (1) time until every pod is NotReady and
(2) until the gate's status says Unhealthy, (3) from Redis back until every pod is Ready again;
and, for the steady state, the operator's status refresh duration (its own histogram) and CPU.

    python -m bench.e2e_outage [--pods 50]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.env import common, kube, redis
from tests.env import operator as operator_env
from tests.env.realnode import buildah, relay, release
from tests.env.realnode import node as realnode
from tests.integration.operator import objects

NS = "bench-outage"
APP = "bench-api"


class RelayedRedis:
    """Redis on loopback as the pods see it: at the relay on the node bridge's address."""

    def __init__(self, server: redis.RedisServer, through: relay.Relay) -> None:
        self.server = server
        self.relay = through

    @property
    def url(self) -> str:
        return f"redis://:{self.server.password}@{self.relay.address}/0"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


def gate(url_secret: str) -> dict[str, Any]:
    """The tests' Redis gate, with a 1 s readiness probe that fails on the first miss."""
    dep = {
        **objects.REDIS_DEP,
        "redis": {"urlFrom": {"secretKeyRef": {"name": url_secret, "key": "url"}}},
    }
    probe = {"periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 1}
    spec = objects.gate(APP, NS, [dep], app=APP, probes={"readiness": probe})
    # This benchmark times pods leaving their Service: without the shared-outage guard
    # (bench.shared_outage measures the guard).
    spec["spec"]["sharedOutage"] = {"policy": "FailClosed"}
    return spec


def deployment(replicas: int) -> dict[str, Any]:
    # Our own image (built and imported by `stack`): it has `sleep`.
    return objects.sleeping_app(APP, NS, replicas=replicas, image=buildah.healthgate()[0])


def ready_pods(cluster: kube.KubeCluster) -> tuple[int, int]:
    pods = json.loads(cluster.kubectl("get", "pods", "-n", NS, "-o", "json").stdout)["items"]
    ready = sum(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
        for p in pods
    )
    return ready, len(pods)


def gate_status(cluster: kube.KubeCluster) -> str:
    return cluster.kubectl("get", "hg", APP, "-n", NS, "-o", "jsonpath={.status.status}").stdout


def timed(predicate: Callable[[], bool], timeout: float = 600) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def refresh_stats(op: operator_env.OperatorProcess) -> tuple[float, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics") as resp:
        text = resp.read().decode()
    found = dict(
        re.findall(
            r"^healthgate_status_refresh_duration_seconds_(sum|count) (\S+)$", text, re.MULTILINE
        )
    )
    return float(found.get("sum", 0)), float(found.get("count", 0))


def measure(
    cluster: kube.KubeCluster, op: operator_env.OperatorProcess, r: RelayedRedis, pods: int
) -> None:
    started = time.monotonic()
    timed(lambda: ready_pods(cluster) == (pods, pods))
    print(f"deploy {pods} pods -> all Ready: {time.monotonic() - started:6.1f} s")
    timed(lambda: gate_status(cluster) == "Healthy")
    assert op.process is not None
    cpu0, (sum0, n0), t0 = cpu_seconds(op.process.popen.pid), refresh_stats(op), time.monotonic()
    time.sleep(20)
    cpu1, (sum1, n1), t1 = cpu_seconds(op.process.popen.pid), refresh_stats(op), time.monotonic()
    cycle_ms = 1000 * (sum1 - sum0) / max(n1 - n0, 1)
    cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
    print(
        f"operator status refresh ({pods} pods): mean {cycle_ms:.1f} ms per cycle over "
        f"{n1 - n0:.0f} cycles; operator CPU {cpu:.1f}% of a core"
    )
    r.stop()
    down = time.monotonic()
    not_ready = timed(lambda: ready_pods(cluster)[0] == 0)
    print(f"Redis stopped -> every pod NotReady: {not_ready:6.2f} s")
    timed(lambda: gate_status(cluster) == "Unhealthy")
    print(f"Redis stopped -> gate Unhealthy:     {time.monotonic() - down:6.2f} s")
    r.start()
    back = timed(lambda: ready_pods(cluster)[0] == pods)
    print(f"Redis started -> every pod Ready:    {back:6.2f} s")


@contextlib.contextmanager
def stack(
    prefix: str,
) -> Iterator[tuple[kube.KubeCluster, RelayedRedis, operator_env.OperatorProcess]]:
    """API server, real node, Redis and the operator (status every 1 s); all stopped after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    cluster = kube.start(root / "kube")
    node = realnode.RealNode(cluster, root / "node")
    r = redis.start(root / "redis")
    op: operator_env.OperatorProcess | None = None
    through: relay.Relay | None = None
    try:
        node.start()
        image = release.import_healthgate(node)  # what the pods and their sidecars run
        through = relay.start("redis-relay", f"{r.host}:{r.port}", root / "redis-relay")
        operator_env.install(cluster)
        kubeconfig = operator_env.service_account_kubeconfig(cluster, root / "op.kubeconfig")
        op = operator_env.OperatorProcess(
            cluster=cluster,
            kubeconfig=kubeconfig,
            workdir=root / "operator",
            status_interval=1,
            sidecar_image=image,
        )
        op.start()
        yield cluster, RelayedRedis(r, through), op
    finally:
        if op is not None:
            op.stop()
        if through is not None:
            through.stop()
        node.stop()
        r.stop()
        cluster.stop()


def prepare(cluster: kube.KubeCluster, r: RelayedRedis, *extra: dict[str, Any]) -> None:
    """The namespace (once its service account exists), the Secret ``r`` with Redis's URL, and
    ``extra`` objects applied with it."""
    cluster.kubectl("create", "namespace", NS)
    common.wait_for(
        "service account",
        lambda: cluster.kubectl("get", "sa", "default", "-n", NS, check=False).returncode == 0,
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "r", "namespace": NS},
        "stringData": {"url": r.url},
    }
    items = [secret, *extra]
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=50)
    args = parser.parse_args(argv)
    with stack("healthgate-bench-e2e-") as (cluster, r, op):
        prepare(cluster, r, gate("r"))
        common.wait_for(
            "ConfigMap",
            lambda: (
                cluster.kubectl("get", "cm", f"{APP}-healthgate", "-n", NS, check=False).returncode
                == 0
            ),
        )
        cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment(args.pods)))
        print(f"# e2e outage benchmark: {args.pods} pods, readiness period 1 s, check interval 1 s")
        measure(cluster, op, r, args.pods)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

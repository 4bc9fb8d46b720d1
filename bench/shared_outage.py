"""The shared-outage guard on the local environment: how long a Redis outage empties the Service.

Real control plane, real node, operator (status refresh every 1 s) and Redis; one Deployment
under a gate with the default ``sharedOutage`` (FailOpen). Per scenario, Redis is stopped and
the benchmark samples the pods' Ready conditions (a Service's ready endpoints) until the gate
reports the shared outage with every pod Ready, then starts Redis and waits until all is normal:

- zero-endpoint seconds: how long no pod was Ready (sampled, so shorter gaps can be missed);
- time to fail open: Redis stopped -> shared outage reported and every pod Ready;
- time to return to normal: Redis started -> gate Healthy, no shared outage, every pod Ready.

The check runs every 1 s with ``failureThreshold`` 3 (the defaults, 10 s and 3, scaled like the
1 s status interval) or 1 (the hard case: pods leave at the first failure). The load average
is printed next to each figure: on a shared 2-core machine it moves them.

    python -m bench.shared_outage [--replicas 3 30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench import e2e_outage
from bench.e2e_outage import APP, NS, RelayedRedis, deployment, ready_pods
from tests.env import kube


def gate(failure_threshold: int) -> dict[str, Any]:
    spec = e2e_outage.gate("r")
    spec["spec"].pop("sharedOutage", None)  # the default policy: FailOpen
    spec["spec"]["dependencies"][0]["failureThreshold"] = failure_threshold
    return spec


def status(cluster: kube.KubeCluster) -> dict[str, Any]:
    out = cluster.kubectl("get", "hg", APP, "-n", NS, "-o", "json", check=False).stdout
    found: dict[str, Any] = json.loads(out).get("status") or {} if out else {}
    return found


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def fail_open(cluster: kube.KubeCluster, r: RelayedRedis, pods: int) -> tuple[float, float]:
    """(zero-endpoint seconds, seconds to fail open) after stopping Redis."""
    r.stop()
    began = last = time.monotonic()
    empty = 0.0
    while True:
        ready, total = ready_pods(cluster)
        now = time.monotonic()
        if ready == 0:
            empty += now - last  # the interval since the previous sample, pessimistically
        last = now
        if ready == total == pods and status(cluster).get("sharedOutage"):
            return empty, now - began
        if now - began > 300:
            raise TimeoutError("the shared outage was never reported with every pod Ready")
        time.sleep(0.1)


def back_to_normal(cluster: kube.KubeCluster, r: RelayedRedis, pods: int) -> float:
    r.start()
    return e2e_outage.timed(
        lambda: (
            ready_pods(cluster) == (pods, pods)
            and status(cluster).get("status") == "Healthy"
            and status(cluster).get("sharedOutage") == []
        ),
        timeout=300,
    )


def scenario(cluster: kube.KubeCluster, r: RelayedRedis, pods: int, threshold: int) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(gate(threshold)))
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment(pods)))
    e2e_outage.timed(lambda: ready_pods(cluster) == (pods, pods), timeout=600)
    e2e_outage.timed(lambda: status(cluster).get("status") == "Healthy", timeout=120)
    time.sleep(3)  # the config (failureThreshold) reached every sidecar through its volume
    label = f"{pods:2d} replicas, failureThreshold {threshold}"
    empty, opened = fail_open(cluster, r, pods)
    print(f"{label}: zero-endpoint seconds {empty:5.2f}   ({load()})", flush=True)
    print(f"{label}: time to fail open     {opened:5.2f} s ({load()})", flush=True)
    normal = back_to_normal(cluster, r, pods)
    print(f"{label}: time back to normal   {normal:5.2f} s ({load()})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, nargs="+", default=[3, 30])
    args = parser.parse_args(argv)
    with e2e_outage.stack("healthgate-bench-shared-") as (cluster, r, _):
        e2e_outage.prepare(cluster, r)
        print("# shared outage: check interval 1 s, status refresh 1 s, readiness period 1 s")
        for pods in args.replicas:
            for threshold in (3, 1) if pods == min(args.replicas) else (3,):
                scenario(cluster, r, pods, threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

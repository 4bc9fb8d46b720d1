"""Operator sharding: one replica, then 2 shards, over the same 200 HealthGates.

Each gate selects one pod (a real API object that stays unscheduled, so it has no IP and no
sidecar is asked): a refresh is the pod LIST and the status write, the API-bound part of the
status loop. Sidecar answers at scale are the 10,000-pod status-loop benchmark's subject; this
one shows the split: which replica owns how many gates, how long until every gate has a status
from its owner, and each process's CPU and RSS. The 2-shard run starts on gates the single
replica already served, so it also shows the takeover when the shard count changes.

The processes run ``--standalone`` (no peering): deploy/rbac.yaml grants only the unsharded
peering object; tests/integration/operator/test_shards.py runs shards with their peering.

Run: ``python -m bench.operator_shards``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from bench._operator_env import GATES, Api, Env, environment, rss_mib
from bench.operator_memory import cpu_seconds
from tests.env import operator as operator_env
from tests.integration.operator import objects

GATE_COUNT = 200
NAMESPACES = 4
STATUS_INTERVAL = 5.0
SERVE_TIMEOUT = 240.0
WINDOW = 4 * STATUS_INTERVAL  # CPU is measured over this many seconds of steady state
TCP = {"name": "db", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": 1}}


def populate(env: Env, namespaces: list[str]) -> None:
    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "api"):
            local.api = Api(env.cluster)
        ns, name = namespaces[i % NAMESPACES], f"g{i:04d}"
        gate = objects.gate(name, ns, [TCP], app=name)
        status, _ = local.api.call("POST", GATES.format(ns=ns), gate)
        assert status == 201, status
        status, _ = local.api.call(
            "POST", f"/api/v1/namespaces/{ns}/pods", objects.pod(f"{name}-pod", ns, app=name)
        )
        assert status == 201, status

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(GATE_COUNT)))


def owned(op: operator_env.OperatorProcess) -> int:
    """Gates this process exports: it wrote their status at least once."""
    series = re.findall(r'healthgate_gate_status\{name="([^"]+)",namespace="([^"]+)"', op.metrics())
    return len(set(series))


def start_shards(
    env: Env, count: int, *, status_interval: float, args: Sequence[str] = ()
) -> list[operator_env.OperatorProcess]:
    """``count`` operator processes splitting the gates, started; the caller stops them.

    Reusable by the other operator benchmarks (e.g. the 10,000-pod status loop) to run sharded.
    """
    workdir = env.workdir / f"shards-{count}"
    kubeconfig = operator_env.service_account_kubeconfig(env.cluster, workdir.with_suffix(".kc"))
    ops = [
        operator_env.OperatorProcess(
            cluster=env.cluster,
            kubeconfig=kubeconfig,
            workdir=workdir,  # one certificate for all, as replicas mount one Secret
            name=f"shard-{index}",
            args=[
                "--all-namespaces",
                "--standalone",
                f"--shard-count={count}",
                f"--shard-index={index}",
                *args,
            ],
            status_interval=status_interval,
        )
        for index in range(count)
    ]
    try:
        for op in ops:
            op.start()
    except BaseException:
        for op in ops:
            op.stop()
        raise
    return ops


def run(env: Env, count: int) -> None:
    started = time.monotonic()
    ops = start_shards(env, count, status_interval=STATUS_INTERVAL)
    try:
        while (done := sum(owned(op) for op in ops)) < GATE_COUNT:
            if time.monotonic() - started > SERVE_TIMEOUT:
                break  # reported, not raised: on a loaded machine the figures still tell
            time.sleep(0.5)
        served = time.monotonic() - started
        print(
            f"{count} shard(s): {done} of {GATE_COUNT} gates have a status written by their owner "
            f"{served:.1f} s after start",
            flush=True,
        )
        cpu = [cpu_seconds(op.pid) for op in ops]
        time.sleep(WINDOW)
        used = [cpu_seconds(op.pid) - c for op, c in zip(ops, cpu, strict=True)]
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        for index, op in enumerate(ops):
            gates = owned(op)
            refreshes = gates * WINDOW / STATUS_INTERVAL
            print(
                f"  shard {index}/{count}: {gates:4d} gates, RSS {rss_mib(op.pid):6.1f} MiB, "
                f"CPU {used[index] / WINDOW * 100:5.1f}% of a core at a {STATUS_INTERVAL:.0f} s "
                f"interval, {used[index] / max(refreshes, 1) * 1000:.2f} ms CPU per gate refresh"
            )
        print(f"  load average {load} (2 cores, shared)", flush=True)
    finally:
        for op in ops:
            op.stop()


def main() -> None:
    with environment() as env:
        namespaces = [env.namespace(f"team-{i}") for i in range(NAMESPACES)]
        populate(env, namespaces)
        print(f"{GATE_COUNT} gates in {NAMESPACES} namespaces, 1 pod each", flush=True)
        run(env, 1)
        run(env, 2)  # the same gates: the 2 shards take them over from the single replica


if __name__ == "__main__":
    main()

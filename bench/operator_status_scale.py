"""The status loop at scale: 10,000 injected pods in 1,000 HealthGates (issue 16, item 3).

Pods and gates are real API objects on the real API server, injected by the operator's webhook;
their ``status.podIP`` is patched to a loopback address. The sidecars are a SIMULATION: one
process (``bench/_sidecar_fleet.py``) answers ``/health`` on all 10,000 addresses, so the
figures are the operator's and the API server's, not 10,000 sidecars'.

Phases: steady state (every pod healthy, nothing changes: status writes should be 0), a change
(10 gates' pods turn unhealthy: about 10 writes), and frozen sidecars (one pod in each of 10
gates accepts connections and never answers: the other gates' refreshes must not slow down).
API-server writes are counted from the API server's own ``apiserver_request_total``.

Run: ``python -m bench.operator_status_scale [PODS_PER_GATE [GATES]]`` (default 10 and 1,000).
With ``HEALTHGATE_BENCH_SHARDS=N`` (issue 16, item 4) the single operator then makes way for N
shard processes (``--shard-count N``, as ``bench.operator_shards`` starts them) on the same
gates and pods: each shard's gates, rounds, CPU and RSS, and the writes of them all.
With ``HEALTHGATE_BENCH_PROFILE=FILE`` the operator's steady-state window is profiled (cProfile
on process CPU time, not wall time: the machine is shared) and the stats are written to FILE.
Prints figures with their goals and the load average (the machine may be shared); asserts
nothing about time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench._metrics_text import counter, cpu_seconds, histogram, load, over
from bench._operator_env import GATES, Api, Env, environment, gate, rss_mib, wait_count
from bench._sidecar_fleet import address
from bench.operator_shards import owned, start_shards
from tests.env import common
from tests.env.operator import OperatorProcess
from tests.integration.operator import objects

# A smaller run (e.g. for a profile) keeps every other figure the same.
GATE_COUNT = int(sys.argv[2]) if __name__ == "__main__" and len(sys.argv) > 2 else 1000
NAMESPACES = 10
INTERVAL = 10.0
TIMEOUT = 1.0  # --health-timeout: the per-pod bound a frozen sidecar may cost its own gate
WINDOW = 6 * INTERVAL
CHANGED = 10  # gates whose pods turn unhealthy
FROZEN = 10  # gates with one frozen sidecar
PROFILE = os.environ.get("HEALTHGATE_BENCH_PROFILE", "")
SHARDS = int(os.environ.get("HEALTHGATE_BENCH_SHARDS", "0"))
# Run in the operator before its entry point: SIGUSR1 starts the profile, SIGUSR2 writes it.
PROFILER = f"""
import cProfile, signal, time
_profile = cProfile.Profile(time.process_time)
signal.signal(signal.SIGUSR1, lambda *_: _profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: (_profile.disable(), _profile.dump_stats({PROFILE!r})))
"""
FLEET: list[int] = []  # the simulated fleet's pid, once started
STATUS_PATCH = 'resource="healthgates",scope="resource",subresource="status",verb="PATCH"'


def scrape(op: OperatorProcess) -> str:
    """The operator's /metrics; on a starved machine (or profiled) one scrape may take long."""
    for attempt in range(3):
        try:
            return op.metrics(timeout=30)
        except TimeoutError:
            print(f"  (a /metrics scrape timed out, {load()})", flush=True)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class Reading:
    """What a window is measured by: operator CPU and metrics (summed over the processes, when
    sharded), API-server writes.

    The benchmark's own /metrics scrape is not the rounds' work (at 1,000 gates it costs the
    operator about as much as a tenth of a round): CPU is read on both sides of it, a window
    runs from after one scrape to before the next, and the scrape's cost is shown apart.
    """

    def __init__(self, env: Env, ops: list[OperatorProcess] | None = None) -> None:
        ops = ops or [env.running()]
        self.at = time.monotonic()
        self.cpus = [cpu_seconds(op.pid) for op in ops]
        self.cpu = sum(self.cpus)  # before the scrape: where a window ends
        self.rss = [rss_mib(op.pid) for op in ops]
        self.fleet = cpu_seconds(FLEET[0]) if FLEET else 0.0
        self.metrics = "\n".join(scrape(op) for op in ops)
        self.cpus_after = [cpu_seconds(op.pid) for op in ops]
        self.cpu_after = sum(self.cpus_after)  # after it: where a window starts
        api = Api(env.cluster)
        api.conn.request("GET", "/metrics")
        self.writes = counter(
            api.conn.getresponse().read().decode(), "apiserver_request_total", STATUS_PATCH
        )


def window(
    env: Env, seconds: float, ops: list[OperatorProcess] | None = None
) -> tuple[Reading, Reading]:
    first = Reading(env, ops)
    time.sleep(seconds)
    return first, Reading(env, ops)


def report(title: str, a: Reading, b: Reading, pods: int) -> None:
    elapsed = b.at - a.at
    cpu = b.cpu - a.cpu_after
    writes = b.writes - a.writes
    name = "healthgate_status_round_duration_seconds"
    rb, ra = histogram(b.metrics, name), histogram(a.metrics, name)
    count = counter(b.metrics, f"{name}_count") - counter(a.metrics, f"{name}_count")
    total = counter(b.metrics, f"{name}_sum") - counter(a.metrics, f"{name}_sum")
    slow, _ = over(ra, rb, 2.0)
    # Rounds that ran (a round longer than the interval is followed at once by the next).
    rounds = (count or elapsed / INTERVAL) / len(b.rss)  # each shard's round covers its part
    print(f"--- {title} ({elapsed:.0f} s, {load()})")
    if count:
        print(f"  full refresh (all gates), mean   {total / count:6.2f} s   goal < 2 s; "
              f"rounds over 2 s: {slow} of {count:.0f}")  # fmt: skip
    print(
        f"  operator CPU                     {100 * cpu / elapsed:6.1f} % of a core   goal < 30 %"
    )
    print(
        f"  per-pod cost                     {1000 * cpu / (pods * rounds):6.3f} ms CPU "
        "per pod and refresh"
    )
    print(f"  status writes (API server)       {writes / elapsed:6.2f} /s "
          f"({writes:.0f} in the window)   goal: only on change")  # fmt: skip
    print(f"  the benchmark's /metrics scrape  {1000 * (b.cpu_after - b.cpu):6.0f} ms CPU "
          "(not in the figures above)")  # fmt: skip
    print("  operator RSS                     " + " + ".join(f"{r:.1f}" for r in b.rss) + " MiB")
    fleet = 100 * (b.fleet - a.fleet) / elapsed
    print(f"  simulated sidecar fleet CPU      {fleet:6.1f} % of a core "
          "(the simulation's, not the operator's)")  # fmt: skip
    # The baseline for the frozen phase: on a starved machine refreshes pass the per-pod
    # timeout with no frozen sidecar at all.
    refresh = "healthgate_status_refresh_duration_seconds"
    late, done = over(histogram(a.metrics, refresh), histogram(b.metrics, refresh), TIMEOUT)
    print(f"  gate refreshes over the per-pod timeout ({TIMEOUT:.0f} s): {late} of {done}")


def fleet_control(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        resp.read()


def populate(env: Env, namespaces: list[str], per_gate: int) -> None:
    local = threading.local()
    retries: list[int] = []
    uninjected: list[int] = []

    def api() -> Api:
        if not hasattr(local, "api"):
            local.api = Api(env.cluster)
        client: Api = local.api
        return client

    def create_gate(i: int) -> None:
        ns = namespaces[i % NAMESPACES]
        for _ in range(30):  # a validation timing out under the burst is retried, and counted
            status, body = api().call(
                "POST", GATES.format(ns=ns), gate(f"g{i:04d}", ns, app=f"a{i:04d}")
            )
            if status != 500:
                break
            retries.append(i)
            time.sleep(1)
        assert status == 201, (status, body)

    def create_pod(k: int) -> None:
        i = k // per_gate
        ns, name = namespaces[i % NAMESPACES], f"p{k:05d}"
        pod = objects.pod(name, ns, app=f"a{i:04d}")
        for _ in range(10):  # the pod webhook fails open: a timed-out admission is redone
            status, body = api().call("POST", f"/api/v1/namespaces/{ns}/pods", pod)
            assert status == 201, (status, body)
            if "healthgate.io/gate" in body["metadata"].get("annotations", {}):
                break
            uninjected.append(k)
            api().call("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0")
        else:
            raise AssertionError(f"pod {name} not injected after 10 tries")
        ip = address(k)
        patch: dict[str, Any] = {"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }}  # fmt: skip
        api().conn.request(
            "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
            body=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )  # fmt: skip
        resp = api().conn.getresponse()
        assert resp.status == 200, resp.read()[:300]
        resp.read()

    def configmaps() -> int:
        _, body = Api(env.cluster).call(
            "GET", "/api/v1/configmaps?labelSelector=healthgate.io/gate"
        )
        return len(body.get("items", []))

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create_gate, range(GATE_COUNT)))
    wait_count("ConfigMaps", configmaps, GATE_COUNT, timeout=900)
    time.sleep(5)  # the webhook's gate cache sees Reconciled
    print(
        f"{GATE_COUNT} gates reconciled in {time.monotonic() - started:.0f} s, "
        f"{len(retries)} creates retried after a webhook timeout ({load()})",
        flush=True,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_pod, range(GATE_COUNT * per_gate)))
    print(f"{GATE_COUNT * per_gate} pods injected and given loopback IPs in "
          f"{time.monotonic() - started:.0f} s, {len(uninjected)} created again after an "
          f"admission timeout ({load()})", flush=True)  # fmt: skip


def healthy_gates(env: Env, per_gate: int) -> int:
    _, body = Api(env.cluster).call("GET", "/apis/healthgate.io/v1alpha1/healthgates")
    return sum(
        1
        for g in body.get("items", [])
        if (g.get("status") or {}).get("status") == "Healthy"
        and (g["status"].get("pods") or {}).get("injected") == per_gate
    )


def sharded(env: Env, port: int, pods: int) -> None:
    """The same gates and pods, now split over ``SHARDS`` processes (issue 16, item 4)."""
    env.running().stop()
    started = time.monotonic()
    ops = start_shards(
        env, SHARDS, status_interval=INTERVAL,
        args=[f"--sidecar-port={port}", f"--health-timeout={TIMEOUT}"],
    )  # fmt: skip
    try:
        wait_count("gates owned by a shard", lambda: sum(owned(op) for op in ops), GATE_COUNT, 900)
        print(f"{SHARDS} shards own all {GATE_COUNT} gates {time.monotonic() - started:.0f} s "
              f"after start: " + " + ".join(str(owned(op)) for op in ops) + f" ({load()})",
              flush=True)  # fmt: skip
        time.sleep(2 * INTERVAL)  # past the first rounds (each shard's pod cache syncs)
        first, last = window(env, WINDOW, ops)
        report(f"{SHARDS} shards, steady state", first, last, pods)
        for index, op in enumerate(ops):
            cpu = last.cpus[index] - first.cpus_after[index]
            print(f"  shard {index}: {owned(op)} gates, {100 * cpu / (last.at - first.at):.1f} % "
                  f"of a core, RSS {last.rss[index]:.1f} MiB")  # fmt: skip
    finally:
        for op in ops:
            op.stop()


def main() -> None:
    per_gate = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    pods = GATE_COUNT * per_gate
    print(f"SIMULATION: one process answers /health for all {pods} pods on loopback addresses; "
          "pods and gates are real API objects.", flush=True)  # fmt: skip
    with environment() as env:
        port, control = common.free_port(), common.free_port()
        fleet = subprocess.Popen(
            [sys.executable, "-m", "bench._sidecar_fleet", str(pods), str(port), str(control)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        FLEET.append(fleet.pid)
        try:
            assert fleet.stdout is not None
            assert fleet.stdout.readline().strip() == "ready"
            namespaces = [env.namespace(f"team-{i}") for i in range(NAMESPACES)]
            env.start_operator(
                f"--sidecar-port={port}",
                f"--health-timeout={TIMEOUT}",
                status_interval=INTERVAL,
                prelude=PROFILER if PROFILE else "",
            )
            populate(env, namespaces, per_gate)
            # Nearly all: on a starved machine a few gates' probes time out in some round.
            settled = wait_count(
                "Healthy gates", lambda: healthy_gates(env, per_gate), GATE_COUNT * 98 // 100, 900
            )
            print(f"{healthy_gates(env, per_gate)} of {GATE_COUNT} gates Healthy after "
                  f"{settled:.0f} s ({load()}); operator pid {env.running().pid}",
                  flush=True)  # fmt: skip
            time.sleep(INTERVAL)
            if PROFILE:
                os.kill(env.running().pid, signal.SIGUSR1)
            steady = window(env, WINDOW)
            if PROFILE:
                os.kill(env.running().pid, signal.SIGUSR2)
            report("steady state: nothing changes", *steady, pods)
            for g in range(CHANGED):
                fleet_control(control, f"/status/unhealthy/{g * per_gate}/{per_gate}")
            report(f"{CHANGED} gates turn unhealthy", *window(env, 3 * INTERVAL), pods)
            for g in range(CHANGED, CHANGED + FROZEN):
                fleet_control(control, f"/freeze/{g * per_gate}")
            before = Reading(env)
            time.sleep(WINDOW)
            after = Reading(env)
            report(f"{FROZEN} gates with one frozen sidecar", before, after, pods)
            print(f"  (gates with a frozen sidecar: {FROZEN} per round; goal: no others over the "
                  "timeout than in the steady state)")  # fmt: skip
            if SHARDS:
                sharded(env, port, pods)
        finally:
            fleet.kill()
            fleet.wait()


if __name__ == "__main__":
    main()

"""Operator memory: resident set size with 0, 40 and 1,000 HealthGates.

The gates go into 10 namespaces (100 each); every gate is reconciled (its ConfigMap exists) and
its status timer has run at least twice before the second reading, so the figure includes Kopf's
per-object state, the webhook's gate cache and the metrics of every gate.

Run: ``python -m bench.operator_memory [--tracemalloc]``. Prints figures; asserts nothing.
With ``--tracemalloc`` the operator traces its allocations (slower, and the traces cost memory
of their own, so RSS figures of that run are not comparable) and the largest allocation sites
at 1,000 gates are printed: by file, by line, and by traceback (the frames that name the caller).
Tracing starts once the operator idles, so only what the gates cost is traced (and the start-up
is not slowed down by tracing every import).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._operator_env import GATES, Api, environment, gate, rss_mib, wait_count

GATE_COUNT = 1000
FEW = 40  # a typical install; the figure issue 11 asked about
NAMESPACES = 10
STATUS_INTERVAL = 10.0
IDLE_GOAL, LOADED_GOAL = 70, 150  # MiB, issue 16
FRAMES = 6  # traceback depth with --tracemalloc: enough to reach our code from a library's
TRACEMALLOC = """
import os, signal, tracemalloc
def _start(*_):
    tracemalloc.start({frames})
def _dump(*_):
    snapshot = tracemalloc.take_snapshot()
    with open({path!r} + ".part", "w") as out:
        for key, count in (("filename", 25), ("lineno", 25)):
            for stat in snapshot.statistics(key)[:count]:
                out.write(f"{{stat}}\\n")
            out.write("\\n")
        for stat in snapshot.statistics("traceback")[:15]:
            out.write(f"{{stat}}\\n")
            for line in stat.traceback.format(limit={frames}, most_recent_first=True)[::2]:
                out.write(f"    {{line.strip()}}\\n")
    os.replace({path!r} + ".part", {path!r})  # complete when it appears
signal.signal(signal.SIGUSR2, _start)
signal.signal(signal.SIGUSR1, _dump)
"""


def main() -> None:
    with environment() as env:
        namespaces = [env.namespace(f"team-{i}") for i in range(NAMESPACES)]
        trace = env.workdir / "tracemalloc.txt"
        prelude = (
            TRACEMALLOC.format(path=str(trace), frames=FRAMES)
            if "--tracemalloc" in sys.argv
            else ""
        )
        operator = env.start_operator(status_interval=STATUS_INTERVAL, prelude=prelude)
        time.sleep(3)
        idle = rss_mib(operator.pid)
        print(f"operator RSS, no gates: {idle:.1f} MiB", flush=True)
        if prelude:  # from here: what the gates cost, without the start-up's imports
            os.kill(operator.pid, signal.SIGUSR2)
        local = threading.local()
        retries: list[int] = []

        def create(i: int) -> None:
            if not hasattr(local, "api"):
                local.api = Api(env.cluster)
            ns = namespaces[i % NAMESPACES]
            for _ in range(30):  # a validation timing out under the burst is retried, and counted
                status, _ = local.api.call("POST", GATES.format(ns=ns), gate(f"g{i:04d}", ns))
                if status != 500:
                    break
                retries.append(i)
                time.sleep(1)
            assert status == 201, status

        def configmaps() -> int:
            # A connection per poll: the API server closes one left idle during the sleeps.
            _, body = Api(env.cluster).call(
                "GET", "/api/v1/configmaps?labelSelector=healthgate.io/gate"
            )
            return len(body.get("items", []))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(FEW)))
        wait_count("ConfigMaps", configmaps, FEW, timeout=300)
        time.sleep(2 * STATUS_INTERVAL + 2)
        few = rss_mib(operator.pid)
        print(f"operator RSS, {FEW} gates, 2 status rounds: {few:.1f} MiB", flush=True)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(FEW, GATE_COUNT)))
        wait_count("ConfigMaps", configmaps, GATE_COUNT, timeout=900)
        reconciled = time.monotonic() - started
        loaded = rss_mib(operator.pid)
        time.sleep(2 * STATUS_INTERVAL + 2)  # every status timer has run at least twice
        steady = rss_mib(operator.pid)
        cpu = cpu_seconds(operator.pid)
        print(f"operator RSS, no gates:               {idle:.1f} MiB (goal < {IDLE_GOAL} MiB)")
        print(
            f"operator RSS, {GATE_COUNT} gates reconciled:    {loaded:.1f} MiB "
            f"({reconciled:.0f} s, "
            f"{len(retries)} creates retried after a webhook timeout; {load()})"
        )
        print(
            f"operator RSS, {GATE_COUNT} gates, 2 status rounds: {steady:.1f} MiB "
            f"(goal < {LOADED_GOAL} MiB; {(steady - idle) * 1024 / GATE_COUNT:.0f} KiB per gate); "
            f"CPU used so far {cpu:.0f} s"
        )
        if prelude:
            os.kill(operator.pid, signal.SIGUSR1)
            wait_count("the tracemalloc dump", lambda: int(trace.exists()), 1, timeout=300)
            print(f"largest allocation sites at {GATE_COUNT} gates:\n{trace.read_text()}")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


if __name__ == "__main__":
    main()

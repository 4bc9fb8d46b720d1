"""Webhook under a burst (issue 16, item 5): 50 pod creations a second for 30 s, 100 gates.

Creations are sent on a fixed schedule (open loop: a slow answer does not slow the sender) by a
pool of clients, each on its own keep-alive HTTPS connection. Latency is shown three ways: the
pod create call as the client sees it, the API server's own
``apiserver_admission_webhook_admission_duration_seconds`` for the injection webhook, and the
operator's ``healthgate_webhook_admission_duration_seconds`` (request in, answer out). Every
create that is not a 201 with the sidecar injected counts as an error.

Run: ``python -m bench.operator_webhook_burst [STATUS_INTERVAL]`` (default 30 s; a long one,
e.g. 3600, keeps the status rounds out of the burst, to tell their share of the latency).
Prints figures next to the goal with the load average (the machine may be shared); asserts
nothing about time.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._operator_env import Api, environment, percentiles
from bench.operator_webhook import (
    GATE_COUNT,
    METRIC,
    OPERATOR_METRIC,
    buckets_of,
    gated_namespace,
    histogram_quantiles,
    operator_metrics,
)
from tests.integration.operator import objects

# Run in the operator before its entry point: a thread asks the event loop to note the time every
# 10 ms; a gap between two notes is how long the loop (or the GIL) was held, during which no
# admission could be answered.
LOOP_GAPS = """
import asyncio.base_events as _base, threading as _threading, time as _time
_loops = []
_run_forever = _base.BaseEventLoop.run_forever
def _remember(self):
    _loops.append(self)
    return _run_forever(self)
_base.BaseEventLoop.run_forever = _remember
def _tick():
    out = open({path!r}, "a", buffering=1)
    while not _loops:
        _time.sleep(0.1)
    while True:
        _loops[-1].call_soon_threadsafe(lambda: out.write(f"{{_time.monotonic():.4f}}\\n"))
        _time.sleep(0.01)
_threading.Thread(target=_tick, daemon=True).start()
"""
GAP = 0.025  # the admission budget
RATE = 50  # pod creations per second
SECONDS = 30
CLIENTS = 16


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def loop_gaps(ticks: Path, start: float, end: float) -> list[float]:
    """Gaps between the operator loop's notes inside the burst (seconds, minus the 10 ms tick)."""
    times = [float(x) for x in ticks.read_text().split() if start <= float(x) <= end]
    return [b - a - 0.01 for a, b in itertools.pairwise(times)]


def main() -> None:
    with environment() as env:
        interval = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
        ticks = env.workdir / "loop-ticks.txt"
        prelude = LOOP_GAPS.format(path=str(ticks))
        ns, api = gated_namespace(env, "burst", status_interval=interval, prelude=prelude)
        time.sleep(3)  # the gate cache sees every Reconciled condition
        local = threading.local()
        samples: list[float] = []
        errors: list[str] = []

        def create(i: int, due: float) -> None:
            if not hasattr(local, "api"):
                local.api = Api(env.cluster)
            time.sleep(max(0.0, due - time.monotonic()))
            started = time.perf_counter()
            try:
                status, body = local.api.call(
                    "POST", f"/api/v1/namespaces/{ns}/pods", objects.pod(f"p{i:05d}", ns)
                )
            except OSError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                local.api = Api(env.cluster)
                return
            samples.append(time.perf_counter() - started)
            if status != 201:
                errors.append(f"HTTP {status}: {str(body.get('message'))[:200]}")
            elif "healthgate.io/gate" not in body["metadata"].get("annotations", {}):
                errors.append("admitted without the sidecar")

        api.conn.request("GET", "/metrics")
        server_before = buckets_of(
            api.conn.getresponse().read().decode(), METRIC, 'name="inject.healthgate.io"'
        )
        operator_before = buckets_of(operator_metrics(env), OPERATOR_METRIC)
        load_before = load()
        began = time.monotonic() + 1.0
        with ThreadPoolExecutor(CLIENTS) as pool:
            for i in range(RATE * SECONDS):
                pool.submit(create, i, began + i / RATE)
        elapsed = time.monotonic() - began
        gaps = loop_gaps(ticks, began, began + elapsed)
        api = Api(env.cluster)
        api.conn.request("GET", "/metrics")
        server = histogram_quantiles(
            buckets_of(
                api.conn.getresponse().read().decode(), METRIC, 'name="inject.healthgate.io"'
            ),
            server_before,
        )
        inside = histogram_quantiles(
            buckets_of(operator_metrics(env), OPERATOR_METRIC), operator_before
        )
        sent = RATE * SECONDS
        print(f"burst: {sent} pod creations at {RATE}/s over {SECONDS} s with {GATE_COUNT} "
              f"gates, status every {interval:.0f} s, took {elapsed:.1f} s "
              f"({load_before} before, {load()} after)")  # fmt: skip
        print(f"  pod create via the API server: {percentiles(samples)}")
        print(f"  API server's view of the webhook: {server}   goal p99 < 25 ms")
        print(f"  operator's view (in -> out):     {inside}")
        held = [g for g in gaps if g > GAP]
        longest = max(gaps, default=0.0)
        print(f"  operator event loop held over {GAP * 1000:.0f} ms: {len(held)} times, "
              f"{sum(held):.2f} s in all, longest {longest * 1000:.0f} ms")  # fmt: skip
        print(
            f"  errors: {len(errors)} of {sent}   goal 0"
            + (f"; first: {errors[0]}" if errors else "")
        )


if __name__ == "__main__":
    main()

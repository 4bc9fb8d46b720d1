"""Webhook under a burst (issue 16, item 5): 50 pod creations a second for 30 s, 100 gates.

Creations are sent on a fixed schedule (open loop: a slow answer does not slow the sender) by a
pool of clients, each on its own keep-alive HTTPS connection. Latency is shown three ways: the
pod create call as the client sees it, the API server's own
``apiserver_admission_webhook_admission_duration_seconds`` for the injection webhook, and the
operator's ``healthgate_webhook_admission_duration_seconds`` (request in, answer out). The API
server's buckets are coarse (5, 25, 100 ms, ...), so its p99 is interpolated; the share of calls
within 25 ms, a bucket edge, is exact. Beside the burst, one client sends AdmissionReviews
straight to the webhook every 100 ms: the operator's part without the API server's (they count
in the operator's view too). Every create that is not a 201 with the sidecar injected is an
error.

Run: ``python -m bench.operator_webhook_burst [STATUS_INTERVAL]`` (default 30 s; a long one,
e.g. 3600, keeps the status rounds out of the burst, to tell their share of the latency).
Prints figures next to the goal with the load average (the machine may be shared); asserts
nothing about time.
"""

from __future__ import annotations

import collections
import http.client
import itertools
import json
import os
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._operator_env import Api, Env, environment, percentiles, rss_mib
from bench.operator_webhook import (
    GATE_COUNT,
    METRIC,
    OPERATOR_METRIC,
    buckets_of,
    gated_namespace,
    histogram_quantiles,
    operator_metrics,
    review,
)
from tests.integration.operator import objects

# Run in the operator before its entry point: a thread asks each event loop (the operator's, and
# the admission thread's) to note the time every 10 ms; a gap between two notes of one loop is
# how long that loop (or the GIL) was held, during which it could answer nothing.
LOOP_GAPS = """
import asyncio.base_events as _base, threading as _threading, time as _time
_loops = []
_run_forever = _base.BaseEventLoop.run_forever
def _remember(self):
    _loops.append((_threading.current_thread().name, self))
    return _run_forever(self)
_base.BaseEventLoop.run_forever = _remember
def _tick():
    out = open({path!r}, "a", buffering=1)
    while True:
        for name, loop in list(_loops):
            try:
                loop.call_soon_threadsafe(
                    lambda name=name: out.write(f"{{name}} {{_time.monotonic():.4f}}\\n")
                )
            except RuntimeError:  # that loop has closed
                pass
        _time.sleep(0.01)
_threading.Thread(target=_tick, daemon=True).start()
"""
GAP = 0.025  # the admission budget
ADMISSION_THREAD = "healthgate-admission"
RATE = 50  # pod creations per second
SECONDS = 30
CLIENTS = 16
DIRECT_EVERY = 0.1  # seconds between the reviews sent straight to the webhook


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def loop_gaps(ticks: Path, start: float, end: float) -> dict[str, list[float]]:
    """Per loop (by its thread's name), the gaps between its notes inside the burst (seconds,
    minus the 10 ms tick)."""
    times: dict[str, list[float]] = {}
    for line in ticks.read_text().splitlines():
        name, _, stamp = line.rpartition(" ")
        if start <= float(stamp) <= end:
            times.setdefault(name, []).append(float(stamp))
    return {n: [b - a - 0.01 for a, b in itertools.pairwise(t)] for n, t in times.items()}


def held(name: str, gaps: list[float]) -> str:
    over = [g for g in gaps if g > GAP]
    longest = max(gaps, default=0.0)
    return (
        f"  {name} held over {GAP * 1000:.0f} ms: {len(over)} times, "
        f"{sum(over):.2f} s in all, longest {longest * 1000:.0f} ms"
    )


def share_within(after: dict[float, float], before: dict[float, float], bound: float) -> str:
    """The share of the burst's calls the histogram puts at or under ``bound`` (a bucket edge:
    exact, where interpolated quantiles are not)."""
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    within = after.get(bound, 0.0) - before.get(bound, 0.0)
    return f"{within / total:.2%} within {bound * 1000:.0f} ms" if total else "no samples"


def sample_directly(env: Env, namespace: str, stop: threading.Event) -> list[float]:
    """AdmissionReviews straight to the webhook every 100 ms on a kept-alive connection: the
    operator's part of the latency, without the API server's."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed; the TLS cost is still paid
    conn = http.client.HTTPSConnection("127.0.0.1", env.running().webhook_port, context=context)
    samples: list[float] = []
    while not stop.wait(DIRECT_EVERY):
        body = json.dumps(review(namespace)).encode()
        started = time.perf_counter()
        conn.request("POST", "/inject-sidecar", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
        samples.append(time.perf_counter() - started)
    conn.close()
    return samples


def requests_by_kind(text: str) -> collections.Counter[str]:
    """The API server's request counts by verb, resource and subresource."""
    counts: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(
                part.split("=", 1)
                for part in line[line.index("{") + 1 : line.rindex("}")].split(",")
            )
            kind = " ".join(
                labels.get(k, "").strip('"') for k in ("verb", "resource", "subresource")
            )
            counts[kind.strip()] += int(float(line.split()[-1]))
    return counts


def burst(env: Env, ns: str, began: float, *, injected: bool) -> tuple[list[float], list[str]]:
    """RATE pod creations a second for SECONDS from ``began``: latencies and errors."""
    local = threading.local()
    samples: list[float] = []
    slow: list[int] = []  # the second of the burst in which each create over GAP began
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
        if samples[-1] > GAP:
            slow.append(i // RATE)
        if status != 201:
            errors.append(f"HTTP {status}: {str(body.get('message'))[:200]}")
        elif injected and "healthgate.io/gate" not in body["metadata"].get("annotations", {}):
            errors.append("admitted without the sidecar")

    with ThreadPoolExecutor(CLIENTS) as pool:
        jobs = [pool.submit(create, i, began + i / RATE) for i in range(RATE * SECONDS)]
        for job in jobs:
            job.result()
    by_second = collections.Counter(slow)
    print(f"  creates over {GAP * 1000:.0f} ms by second of the burst ({ns}): "
          + (", ".join(f"s{k}: {n}" for k, n in sorted(by_second.items())) or "none"))  # fmt: skip
    return samples, errors


def main() -> None:
    with environment() as env:
        interval = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
        ticks = env.workdir / "loop-ticks.txt"
        prelude = LOOP_GAPS.format(path=str(ticks))
        ns, api = gated_namespace(env, "burst", status_interval=interval, prelude=prelude)
        time.sleep(3)  # the gate cache sees every Reconciled condition
        api.conn.request("GET", "/metrics")
        text = api.conn.getresponse().read().decode()
        server_before = buckets_of(text, METRIC, 'name="inject.healthgate.io"')
        requests_before = requests_by_kind(text)
        operator_before = buckets_of(operator_metrics(env), OPERATOR_METRIC)
        load_before = load()
        began = time.monotonic() + 1.0
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            direct = pool.submit(sample_directly, env, ns, stop)
            samples, errors = burst(env, ns, began, injected=True)
            stop.set()
        elapsed = time.monotonic() - began
        gaps = loop_gaps(ticks, began, began + elapsed)
        api = Api(env.cluster)
        api.conn.request("GET", "/metrics")
        text = api.conn.getresponse().read().decode()
        server_after = buckets_of(text, METRIC, 'name="inject.healthgate.io"')
        requests = requests_by_kind(text) - requests_before
        server = histogram_quantiles(server_after, server_before)
        inside = histogram_quantiles(
            buckets_of(operator_metrics(env), OPERATOR_METRIC), operator_before
        )
        sent = RATE * SECONDS
        print(f"burst: {sent} pod creations at {RATE}/s over {SECONDS} s with {GATE_COUNT} "
              f"gates, status every {interval:.0f} s, took {elapsed:.1f} s "
              f"({load_before} before, {load()} after)")  # fmt: skip
        print(f"  pod create via the API server: {percentiles(samples)}")
        within = share_within(server_after, server_before, GAP)
        print(f"  API server's view of the webhook: {server}, {within}   goal p99 < 25 ms")
        print(f"  webhook timed directly, {1 / DIRECT_EVERY:.0f}/s beside the burst: "
              f"{percentiles(direct.result())}")  # fmt: skip
        print(f"  operator's view (in -> out):     {inside}")
        for thread, loop_gaps_of in sorted(gaps.items()):
            what = "admission loop" if thread == ADMISSION_THREAD else "operator event loop"
            print(held(f"{what} ({thread})", loop_gaps_of))
        busiest = ", ".join(f"{kind} {n}" for kind, n in requests.most_common(8))
        print(f"  API requests during the burst (the 1,500 pod creates included): {busiest}")
        print(f"  operator RSS after the burst: {rss_mib(env.running().pid):.1f} MiB")
        print(
            f"  errors: {len(errors)} of {sent}   goal 0"
            + (f"; first: {errors[0]}" if errors else "")
        )
        # The floor: the same burst where the webhook is not called (the chart's selector
        # excludes kube-public), i.e. what the API server and this machine take by themselves.
        floor, floor_errors = burst(env, "kube-public", time.monotonic() + 1.0, injected=False)
        print(f"  floor, same burst without the webhook (kube-public, {load()}): "
              f"pod create {percentiles(floor)}, {len(floor_errors)} errors")  # fmt: skip


if __name__ == "__main__":
    main()

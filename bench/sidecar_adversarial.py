"""Adversarial load: probe latency while /metrics and /health are hammered, and overload.

1. The sidecar (one core) checks 300 http dependencies every second, so its state changes about
   300 times a second and every scrape sees a new version. ``wrk`` hammers ``/metrics`` (then
   ``/health``) over 16 connections from the other core, while a kubelet-like prober opens a fresh
   connection to ``/readyz`` every 50 ms with a 1 s timeout. Figures: the probe's p50/p99/max,
   probes over 1 s, and dependencies that turned unhealthy (all are healthy: any is a false alarm).
   Target: probe p99 < 10 ms. The sidecar sends big bodies at most 250 a second by design, so
   the hammer's rate stays below that.
2. Overload: 1,000 http dependencies at a 0.2 s interval (a demand of 5,000 checks/s, more than
   one core can run), then at 0.1 s (10,000 checks/s, timeouts of 90 ms). Figures: ok, failed
   and skipped ("overloaded") checks per second. A failed check here is a false alarm: nginx
   answers every request. Target: failed ≈ 0, ok > 0.

Run: ``python -m bench.sidecar_adversarial``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from typing import Any

from bench._sidecar_env import Sidecar, get, nginx, sidecar, table, wait_started, wrk

WINDOW = 10
PROBE_PERIOD = 0.05


def probe_latencies(url: str, stop: threading.Event) -> list[float]:
    """Fresh-connection GET /readyz every PROBE_PERIOD (like the kubelet); ms, inf on timeout."""
    host, port = url.removeprefix("http://").split(":")
    found: list[float] = []
    while not stop.is_set():
        began = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
        try:
            conn.request("GET", "/readyz")
            conn.getresponse().read()
            found.append((time.perf_counter() - began) * 1000)
        except OSError:
            found.append(float("inf"))
        finally:
            conn.close()
        stop.wait(PROBE_PERIOD)
    return found


def unhealthy(proc: Sidecar, status: str = "unhealthy") -> int:
    components = json.loads(get(proc.url + "/health", timeout=30)[1])["components"]
    return sum(1 for c in components.values() if c["status"] == status)


def hammered(proc: Sidecar, path: str | None) -> tuple[Any, ...]:
    stop = threading.Event()
    result: list[float] = []
    prober = threading.Thread(target=lambda: result.extend(probe_latencies(proc.url, stop)))
    prober.start()
    if path is None:
        time.sleep(WINDOW)
        rate = "-"
    else:
        rate = f"{wrk(proc.url + path, connections=16, seconds=WINDOW).rps:,.0f}"
    stop.set()
    prober.join()
    ordered = sorted(result)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    late = sum(1 for v in ordered if v > 1000)
    return (path or "(nothing)", rate, f"{statistics.median(ordered):.1f}", f"{p99:.1f}",
            f"{ordered[-1]:.0f}", late, unhealthy(proc))  # fmt: skip


def scrape_storm(target: str) -> None:
    deps = [
        {"name": f"api-{i}", "type": "http", "intervalSeconds": 1, "timeoutSeconds": 0.5,
         "http": {"url": target + "/ok"}}
        for i in range(300)
    ]  # fmt: skip
    with sidecar({"dependencies": deps}) as proc:
        wait_started(proc, timeout=120)
        rows = [hammered(proc, path) for path in (None, "/metrics", "/health")]
    table(
        "Kubelet-like /readyz probes while clients hammer the sidecar (300 http deps @ 1 s)",
        ("hammered", "hammer req/s", "probe p50 ms", "p99 ms", "max ms", "probes > 1 s",
         "unhealthy deps"),
        rows,
    )  # fmt: skip
    print("  target: probe p99 < 10 ms; unhealthy deps 0 (nginx answers every check)")


def counts(proc: Sidecar) -> dict[str, float]:
    totals = {"success": 0.0, "failure": 0.0, "skipped": 0.0}
    for line in get(proc.url + "/metrics", timeout=30)[1].splitlines():
        if line.startswith("healthgate_dependency_checks_total{"):
            for result in totals:
                if f'result="{result}"' in line:
                    totals[result] += float(line.rsplit(" ", 1)[1])
    return totals


def overload(target: str) -> None:
    rows = []
    for level, interval in ((200, 0.2), (1000, 0.2), (1000, 0.1)):
        deps = [
            {"name": f"api-{i}", "type": "http", "intervalSeconds": interval,
             "timeoutSeconds": interval - 0.01, "http": {"url": target + "/ok"}}
            for i in range(level)
        ]  # fmt: skip
        with sidecar({"dependencies": deps, "jitter": 0.2}) as proc:
            time.sleep(5)  # not wait_started: an overloaded sidecar may start late, on purpose
            before, began = counts(proc), time.monotonic()
            time.sleep(WINDOW)
            after = counts(proc)
            elapsed = time.monotonic() - began
            rates = {k: (after[k] - before[k]) / elapsed for k in after}
            rows.append((level, f"{level / interval:,.0f}", f"{rates['success']:,.0f}",
                         f"{rates['failure']:,.0f}", f"{rates['skipped']:,.0f}",
                         unhealthy(proc), unhealthy(proc, "unknown")))  # fmt: skip
    table(
        "Overload: http checks on one core against a local nginx that always answers",
        ("deps", "demand/s", "ok/s", "failed/s", "skipped (overloaded)/s", "unhealthy", "unknown"),
        rows,
    )
    print("  target: failed/s ~ 0 and unhealthy deps 0 at any demand; ok/s stays > 0")


def main() -> None:
    with nginx() as target:
        scrape_storm(target)
        overload(target)


if __name__ == "__main__":
    main()

"""Probe throughput: /readyz requests per second and latency with 50 dependencies configured.

The sidecar runs pinned to one core; ``wrk`` (Debian) drives it from the other core with 50
keep-alive connections. The 50 dependencies (20 tcp, 10 http, 20 env; 10 s intervals) are all
healthy, so /readyz takes its hot path; /readyz?verbose and /health show the cost of rendering.
Targets: at least 10,000 req/s and p99 under 5 ms on /readyz.

Run: ``python -m bench.sidecar_readyz``. Prints figures; asserts nothing.
"""

from __future__ import annotations

from typing import Any

from bench._sidecar_env import nginx, sidecar, table, wait_started, wrk

SECONDS = 10


def fifty_dependencies(target: str) -> list[dict[str, Any]]:
    port = int(target.rsplit(":", 1)[1])
    deps: list[dict[str, Any]] = []
    for i in range(20):
        deps.append({"name": f"tcp-{i}", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": port}})
    for i in range(10):
        deps.append({"name": f"http-{i}", "type": "http", "http": {"url": target + "/ok"}})
    for i in range(20):
        deps.append({"name": f"env-{i}", "type": "env", "env": {"names": ["HOME"]}})
    return deps


def main() -> None:
    rows = []
    with nginx() as target, sidecar({"dependencies": fifty_dependencies(target)}) as proc:
        wait_started(proc)
        wrk(proc.url + "/readyz", seconds=2)  # warm-up
        for path, seconds in (("/readyz", SECONDS), ("/readyz?verbose", 5), ("/health", 5)):
            load = wrk(proc.url + path, connections=50, seconds=seconds)
            rows.append(
                (path, f"{load.rps:,.0f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}", load.errors)
            )
    table(
        "Probe throughput, sidecar on 1 core, 50 dependencies, 50 keep-alive connections (wrk)",
        ("endpoint", "req/s", "p50 ms", "p99 ms", "errors"),
        rows,
    )
    print("  targets: /readyz >= 10,000 req/s, p99 < 5 ms")


if __name__ == "__main__":
    main()

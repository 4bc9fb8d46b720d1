"""CPU: 100 redis checks at a 1 s interval against a local Redis, as a share of one core.

The sidecar runs pinned to one core with 100 redis dependencies (each its own client and
connection) at ``intervalSeconds: 1``; after a warm-up, user+system CPU time over the window is
divided by the window. Target: under 10 % of a core.

Run: ``python -m bench.sidecar_cpu``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench._sidecar_env import cpu_seconds, rss_mib, sidecar, table, wait_started
from tests.env import redis

DEPENDENCIES = 100
WARMUP = 5.0
WINDOW = 20.0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="healthgate-bench-redis-") as tmp:
        server = redis.start(Path(tmp))
        try:
            deps = [
                {"name": f"cache-{i}", "type": "redis", "intervalSeconds": 1, "timeoutSeconds": 0.5,
                 "redis": {"url": server.url}}
                for i in range(DEPENDENCIES)
            ]  # fmt: skip
            with sidecar({"dependencies": deps}) as proc:
                wait_started(proc)
                time.sleep(WARMUP)
                cpu0, checks0, began = cpu_seconds(proc.pid), proc.checks_total(), time.monotonic()
                time.sleep(WINDOW)
                cpu1, checks1 = cpu_seconds(proc.pid), proc.checks_total()
                elapsed = time.monotonic() - began
                failures = proc.checks_total("failure")
                rss = rss_mib(proc.pid)
        finally:
            server.stop()
    share = 100 * (cpu1 - cpu0) / elapsed
    table(
        f"CPU of {DEPENDENCIES} redis checks at a 1 s interval, sidecar on 1 core"
        f" ({WINDOW:.0f} s window)",
        ("checks/s", "CPU % of a core", "CPU ms per check", "failed checks", "RSS MiB", "target"),
        [(
            f"{(checks1 - checks0) / elapsed:.1f}",
            f"{share:.1f}",
            f"{1000 * (cpu1 - cpu0) / max(1.0, checks1 - checks0):.2f}",
            f"{failures:.0f}",
            f"{rss:.1f}",
            "< 10 %",
        )],
    )  # fmt: skip


if __name__ == "__main__":
    main()

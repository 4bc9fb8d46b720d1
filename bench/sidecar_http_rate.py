"""HTTP checks per second on one core: the sidecar side by side with blackbox_exporter.

Both probe the same local target (Debian's nginx, one worker, on the other core). The sidecar
schedules its own checks: N http dependencies at a 0.2 s interval give a demand of 5N checks/s,
raised step by step until the sidecar's core saturates; the figure is successful checks per
second. Debian's ``prometheus-blackbox-exporter`` probes on request: ``wrk`` sends it /probe
requests over 50 connections and its rate is probes per second. Differences to keep in mind: the
sidecar keeps a keep-alive connection per dependency, blackbox_exporter opens a new connection
per probe (by design), and wrk shares the second core with nginx. Target: at least 0.7x.

Run: ``python -m bench.sidecar_http_rate``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from bench._sidecar_env import (
    CORE_UNDER_TEST,
    cpu_seconds,
    get,
    nginx,
    sidecar,
    table,
    wait_started,
    wait_until,
    wrk,
)
from tests.env import common

LEVELS = (200, 600, 1000)  # dependencies (the contract allows 1000); demand is 5x in checks/s
INTERVAL = 0.2
WINDOW = 8.0
BLACKBOX_CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4}
"""


def sidecar_rate(target: str, dependencies: int) -> tuple[float, float, float]:
    """(successful checks/s, failed checks/s, CPU share) at one demand level."""
    deps = [
        {"name": f"api-{i}", "type": "http", "intervalSeconds": INTERVAL, "timeoutSeconds": 0.19,
         "http": {"url": target + "/ok"}}
        for i in range(dependencies)
    ]  # fmt: skip
    with sidecar({"dependencies": deps, "jitter": 0.2}) as proc:
        wait_started(proc, timeout=120)
        time.sleep(3)
        ok0, bad0 = proc.checks_total(), proc.checks_total("failure")
        cpu0, began = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(WINDOW)
        ok1, bad1 = proc.checks_total(), proc.checks_total("failure")
        elapsed = time.monotonic() - began
        share = 100 * (cpu_seconds(proc.pid) - cpu0) / elapsed
    return (ok1 - ok0) / elapsed, (bad1 - bad0) / elapsed, share


@contextlib.contextmanager
def blackbox() -> Iterator[tuple[str, int]]:
    binary = common.which_or_install("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    with tempfile.TemporaryDirectory(prefix="healthgate-blackbox-") as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(BLACKBOX_CONFIG)
        port = common.free_port()
        popen = subprocess.Popen(
            ["taskset", "-c", str(CORE_UNDER_TEST), binary, f"--config.file={config}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until("blackbox_exporter", lambda: common.port_open("127.0.0.1", port), 15)
            yield f"http://127.0.0.1:{port}", popen.pid  # taskset execs: the same pid
        finally:
            popen.terminate()
            popen.wait(10)


def main() -> None:
    rows = []
    with nginx() as target:
        best = 0.0
        for level in LEVELS:
            ok, failed, share = sidecar_rate(target, level)
            best = max(best, ok)
            rows.append((f"sidecar, {level} deps @ {INTERVAL:g}s", f"{level / INTERVAL:,.0f}",
                         f"{ok:,.0f}", f"{failed:,.0f}", f"{share:.0f}"))  # fmt: skip
        with blackbox() as (exporter, pid):
            probe = f"{exporter}/probe?module=http_2xx&target={quote(target + '/ok', safe='')}"
            assert "probe_success 1" in get(probe)[1], "blackbox_exporter cannot reach nginx"
            cpu0, began = cpu_seconds(pid), time.monotonic()
            load = wrk(probe, connections=50, seconds=int(WINDOW))
            share = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - began)
            rows.append(("blackbox_exporter 0.23, wrk -c50", "-", f"{load.rps:,.0f}",
                         f"{load.errors}", f"{share:.0f}"))  # fmt: skip
    table(
        "HTTP checks per second on one core against the same local nginx",
        ("prober", "demand/s", "ok checks/s", "failed/s", "CPU %"),
        rows,
    )
    print(f"  sidecar best / blackbox_exporter = {best / max(load.rps, 1):.2f}x (target >= 0.7x)")


if __name__ == "__main__":
    main()

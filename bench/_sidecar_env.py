"""Shared plumbing of the sidecar benchmarks: a pinned sidecar process, local targets, readings.

The machine has two cores: the process under test is pinned to core 0 and everything else (load
generator, target servers) to core 1, so a figure is "on one core". Benchmarks print figures and
assert nothing; a busy machine (a build in the background) lowers them, so each table says how
loaded the machine was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.env import common

CORE_UNDER_TEST = 0
CORE_OTHERS = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pin(core: int) -> None:
    """Pin the calling process (and its future children) to one core."""
    os.sched_setaffinity(0, {core})


def get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until(what: str, ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.1)


@dataclass
class Sidecar:
    popen: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def checks_total(self, result: str = "success") -> float:
        """Sum of healthgate_dependency_checks_total for one result, from /metrics."""
        total = 0.0
        for line in get(self.url + "/metrics")[1].splitlines():
            if (
                line.startswith("healthgate_dependency_checks_total{")
                and f'result="{result}"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total


@contextlib.contextmanager
def sidecar(config: dict[str, Any], *, core: int = CORE_UNDER_TEST) -> Iterator[Sidecar]:
    """``healthgate-sidecar serve`` pinned to ``core``, stopped (SIGTERM, no drain) at the end."""
    with tempfile.TemporaryDirectory(prefix="healthgate-bench-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps({"drainSeconds": 0, **config}))
        port = common.free_port()
        argv = [sys.executable, "-m", "healthgate_sidecar.cli", "serve", "--config", str(path),
                "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with (Path(tmp) / "sidecar.log").open("wb") as log:
            popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: pin(core),  # noqa: PLW1509
            )
        proc = Sidecar(popen, f"http://127.0.0.1:{port}")
        try:
            try:
                wait_until(
                    "sidecar",
                    lambda: popen.poll() is not None or common.port_open("127.0.0.1", port),
                )
                if popen.poll() is not None:
                    raise RuntimeError(f"the sidecar exited with {popen.returncode}")
            except RuntimeError:
                print((Path(tmp) / "sidecar.log").read_text()[-3000:], file=sys.stderr)
                raise
            yield proc
        finally:
            popen.terminate()
            popen.wait(10)


def wait_started(proc: Sidecar, timeout: float = 60) -> None:
    """Until every dependency has a first result (/startupz answers 200)."""
    wait_until("startup", lambda: get(proc.url + "/startupz")[0] == 200, timeout)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    tool: str
    errors: int = 0  # non-2xx answers and socket errors


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNIT[match.group(2)]


def wrk(url: str, *, connections: int = 50, seconds: int = 10, core: int = CORE_OTHERS) -> Load:
    """``wrk`` (from Debian) pinned to ``core``, keep-alive connections, latency percentiles."""
    binary = common.which_or_install("wrk", "wrk")
    out = subprocess.run(
        ["taskset", "-c", str(core), binary, "-t1", f"-c{connections}", f"-d{seconds}s",
         "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(rps, _ms(percentiles["50"]), _ms(percentiles["99"]), "wrk", errors)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}  (load average {load_average()})")
    for index, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location /ok {{ return 200 '{{"status": "up"}}'; }}
    location /v1/models {{
      default_type application/json;
      add_header x-ratelimit-remaining-requests 499;
      return 200 '{{"data": [{{"id": "gpt-4o-mini"}}]}}';
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(*, core: int = CORE_OTHERS) -> Iterator[str]:
    """A fast local HTTP target (Debian's nginx-light, one worker) pinned to ``core``."""
    binary = common.which_or_install("nginx", "nginx-light", extra_paths=["/usr/sbin"])
    with tempfile.TemporaryDirectory(prefix="healthgate-nginx-") as tmp:
        port = common.free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=tmp, port=port))
        argv = ["taskset", "-c", str(core), str(binary), "-c", str(conf), "-p", tmp]
        popen = subprocess.Popen(
            [*argv, "-e", f"{tmp}/error.log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_until("nginx", lambda: common.port_open("127.0.0.1", port), 15)
            yield f"http://127.0.0.1:{port}"
        finally:
            popen.terminate()
            popen.wait(10)

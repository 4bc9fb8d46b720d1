"""Memory: the sidecar's resident set size after start, by the drivers its config loads.

Drivers are imported only for the types in use, so the figure depends on the config: no
dependency at all, the common redis+http+tcp trio, and every type (redis, neo4j, postgres,
http, llm, tcp, dns, env). RSS is read after every dependency has a first result (so clients
exist), plus a second. Neo4j and PostgreSQL are pointed at closed ports: their driver and client
are loaded all the same, without starting those servers. Targets: < 45 MiB for redis+http+tcp,
< 80 MiB with every type.

Run: ``python -m bench.sidecar_memory``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._sidecar_env import nginx, rss_mib, sidecar, table, wait_started
from tests.env import common, redis


def trio(redis_url: str, target: str) -> list[dict[str, Any]]:
    port = int(target.rsplit(":", 1)[1])
    return [
        {"name": "cache", "type": "redis", "redis": {"url": redis_url}},
        {"name": "api", "type": "http", "http": {"url": target + "/ok"}},
        {"name": "port", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": port}},
    ]


def every_type(redis_url: str, target: str) -> list[dict[str, Any]]:
    closed = common.free_port()
    return [
        *trio(redis_url, target),
        {"name": "graph", "type": "neo4j", "critical": False,
         "neo4j": {"uri": f"bolt://127.0.0.1:{closed}", "passwordFromEnv": "HOME"}},
        {"name": "db", "type": "postgres", "critical": False,
         "postgres": {"dsn": f"postgresql://u:p@127.0.0.1:{closed}/db"}},
        {"name": "llm", "type": "llm", "llm": {"baseUrl": target + "/v1"}},
        {"name": "resolver", "type": "dns", "critical": False, "dns": {"name": "localhost"}},
        {"name": "mail", "type": "env", "env": {"names": ["HOME"]}},
    ]  # fmt: skip


def measure(deps: list[dict[str, Any]]) -> float:
    with sidecar({"dependencies": deps}) as proc:
        wait_started(proc)
        time.sleep(1)
        return rss_mib(proc.pid)


IMPORTS_ONLY = """
import healthgate_sidecar.cli
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def imports_only() -> float:
    """The interpreter plus aiohttp, pydantic, prometheus_client: the floor of any config."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS_ONLY], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="healthgate-bench-redis-") as tmp, nginx() as target:
        server = redis.start(Path(tmp))
        try:
            rows = [
                ("imports only, not serving", 0, imports_only(), "-"),
                ("no dependency", 0, measure([]), "-"),
                ("redis + http + tcp", 3, measure(trio(server.url, target)), "< 45"),
                ("every type (8 types)", 8, measure(every_type(server.url, target)), "< 80"),
            ]
        finally:
            server.stop()
    table(
        "Sidecar resident memory after start",
        ("config", "dependencies", "RSS MiB", "target MiB"),
        [(name, n, f"{mib:.1f}", goal) for name, n, mib, goal in rows],
    )


if __name__ == "__main__":
    main()

"""A real Prometheus scrapes the sidecar and can query its series."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.env import prometheus, redis
from tests.integration.sidecar.conftest import FAST, Sidecar

CONFIG = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: healthgate
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs: [{{targets: ["{target}"]}}]
"""


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/api/v1/query", params={"query": promql}) as resp:
        data = await resp.json()
    assert data["status"] == "success", data
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


async def test_prometheus_scrapes_dependency_up(
    make_sidecar: Callable[..., Awaitable[Sidecar]],
    make_prometheus: Callable[[str], prometheus.PrometheusServer],
    redis_server: redis.RedisServer,
) -> None:
    sidecar = await make_sidecar(
        {"name": "cache", "type": "redis", **FAST, "redis": {"url": redis_server.url}},
        {"name": "gone", "type": "tcp", **FAST, "critical": False,
         "tcp": {"host": "127.0.0.1", "port": 1}},
    )  # fmt: skip
    target = urlsplit(sidecar.url).netloc
    # Prometheus starts in a thread: its readiness wait must not block our event loop.
    prom = await asyncio.to_thread(make_prometheus, CONFIG.format(target=target))
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            series = await query(session, prom.url, "healthgate_dependency_up")
            values = {s["metric"]["dependency"]: s["value"][1] for s in series}
            if values == {"cache": "1", "gone": "0"}:
                break
            assert time.monotonic() < deadline, f"Prometheus saw {values}"
            await asyncio.sleep(0.5)
        [cache] = [s for s in series if s["metric"]["dependency"] == "cache"]
        assert cache["metric"]["type"] == "redis"
        assert cache["metric"]["critical"] == "true"
        assert cache["metric"]["job"] == "healthgate"
        [ready] = await query(session, prom.url, "healthgate_ready")
        assert ready["value"][1] == "1"
        [up] = await query(session, prom.url, 'up{job="healthgate"}')
        assert up["value"][1] == "1"
        status = await query(
            session, prom.url, 'healthgate_dependency_status{dependency="gone"} == 1'
        )
        assert [s["metric"]["status"] for s in status] == ["unhealthy"]

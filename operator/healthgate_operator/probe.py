"""Read the sidecars' ``/health`` from pod IPs: short timeout, bounded concurrency, no raising.

An unreachable, slow or garbled sidecar is an answer (None), not an error: the status timer
counts it as unknown and carries on; one bad pod must not cost a gate its whole status.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

Json = dict[str, Any]
MAX_BODY = 1 << 20  # a sidecar's answer is a few KiB; anything bigger is not a sidecar


class HealthProber:
    """One HTTP session and one concurrency limit shared by every gate's timer."""

    def __init__(self, *, timeout: float, concurrency: int) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.limit = asyncio.Semaphore(concurrency)
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # No keep-alive: each pod is asked once per interval and pods come and go, so pooled
        # connections would mostly go stale. No proxies from the environment: pod IPs are local.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, force_close=True)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def health(self, ip: str, port: int) -> Json | None:
        """The parsed /health of one sidecar, or None."""
        if self.session is None:
            raise RuntimeError("HealthProber.open() was not called")
        host = f"[{ip}]" if ":" in ip else ip
        url = f"http://{host}:{port}/health"
        async with self.limit:
            try:
                async with self.session.get(url, timeout=self.timeout) as resp:
                    # 503 is a valid answer ("not ready"), with the same JSON body.
                    if resp.status not in (200, 503):
                        return None
                    body = await resp.content.read(MAX_BODY)
            except (aiohttp.ClientError, TimeoutError, OSError):
                return None
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    async def many(self, targets: list[tuple[str, int]]) -> list[Json | None]:
        return list(await asyncio.gather(*(self.health(ip, port) for ip, port in targets)))

"""Pacing of the operator's status writes: at most a steady rate, spaced evenly.

Why: a round in which every gate's status changes (pods created in a burst, a fleet-wide
outage) wrote all of them within a second. Each write costs the API server a PATCH and its
watch fan-out, and comes back to this process as a watch event that Kopf handles; 100 at once
pushed pod admission's p99 from ~25 ms to ~340 ms (``bench.operator_webhook_burst``). Kubernetes'
own controllers are paced the same way (client-go's QPS limit; kube-controller-manager's
``--kube-api-qps`` of 20). Writes are spaced by ``1/rate`` seconds rather than let through in
bursts, because a burst is what hurt.

Only status writes are paced: the shared-outage verdict goes to the sidecars directly, so a
paced status never delays failing open.
"""

from __future__ import annotations

import asyncio


class Pacer:
    """Grants turns at most ``rate`` a second, each at least ``1/rate`` after the previous one."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.spacing = 1.0 / rate
        self._next = 0.0

    def delay(self, now: float) -> float:
        """Books the next turn from ``now``: how long its holder waits (0: at once)."""
        slot = max(now, self._next)
        self._next = slot + self.spacing
        return slot - now

    async def turn(self) -> None:
        """Waits for this caller's turn. A cancelled waiter keeps its booked slot unused,
        which only spaces the next writes a little more."""
        wait = self.delay(asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)

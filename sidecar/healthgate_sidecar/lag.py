"""Event-loop lag: how late the loop runs a timer, i.e. how starved the sidecar itself is.

A check's timeout is measured on the loop's clock. When the sidecar is starved of CPU (more
checks than its core can run, a noisy neighbour, a throttled cgroup), a check waits in the
loop's queue and times out although the dependency answered in time. The monitor ticks every
:data:`TICK` seconds and records how late each tick ran; the engine asks it how much of a check's
time the loop lost, and skips such rounds as ``overloaded`` instead of failing the dependency.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

from healthgate_sidecar import background

TICK = 0.05  # seconds between ticks: a tick is cheap, and 50 ms resolves a 190 ms timeout
HISTORY = 2400  # ticks kept (two minutes when idle): enough for any check's window
OVERLOADED = 0.05  # seconds of lag per tick above which new checks queue for a slot


class LagMonitor:
    """Records tick lateness; :meth:`lost_since` sums it over a check's window."""

    def __init__(self, *, on_lag: Callable[[float], None] | None = None) -> None:
        self.recent = 0.0  # lag of the last tick, in seconds
        self._ticks: collections.deque[tuple[float, float]] = collections.deque(maxlen=HISTORY)
        self._last_tick: float | None = None
        self._on_lag = on_lag

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        return background.task(self._run(), name="loop-lag-monitor")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        worst, worst_since = 0.0, loop.time()
        while True:
            self._last_tick = expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            now = loop.time()
            self.recent = lag = max(0.0, now - expected)
            self._ticks.append((now, lag))
            worst = max(worst, lag)
            if self._on_lag is not None and now - worst_since >= 1.0:
                self._on_lag(worst)  # the gauge shows the worst tick of the last second
                worst, worst_since = 0.0, now

    def overloaded(self) -> bool:
        return self.recent >= OVERLOADED or self._pending() >= OVERLOADED

    def lost_since(self, began: float) -> float:
        """Seconds the loop ran late since loop time ``began``, the current stall included.

        A tick's lag is the stall ``[at - lag, at]``; only its part after ``began`` counts. On a
        saturated loop a check starts inside a long turn, after the next tick fell due: that
        stall began before the check but took most of its timeout, so it must count too.
        """
        lost = self._pending(began)
        for at, lag in reversed(self._ticks):
            if at <= began:
                break
            lost += at - max(at - lag, began)
        return lost

    def _pending(self, began: float | None = None) -> float:
        # A tick that is due but has not run yet: the loop is stalled right now.
        if self._last_tick is None:
            return 0.0
        since = self._last_tick if began is None else max(self._last_tick, began)
        return max(0.0, asyncio.get_running_loop().time() - since)

"""Response bodies rendered once per state change, off the event loop, shared by all clients.

A ``/metrics`` exposition of 1,000 dependencies takes hundreds of milliseconds to render: done
on the loop per request, sixteen scrapers starve every probe. Here a body is rendered at most
once per engine version and key, in :mod:`offload`'s worker; concurrent requests for the same
key wait for the one render in flight, so any number of clients costs one render per change.

The worker shares the GIL with the loop, and while it renders every GIL hand-over costs the
loop up to a switch interval (the convoy effect): renders are paced. After a render that took
``d`` seconds, the same body is served as it is for the next ``DUTY * d`` seconds (at most
``MAX_REUSE``) even if newer results came in, as long as no status changed (the same
``epoch``): timings and details may lag, a status never does. A render thus takes at most
1 / (1 + DUTY) of the time per body while only timings move: nothing for a small config (a 2 ms
render is at most 0.2 s stale), a ~100 ms render of 300 dependencies' metrics about once every
5 s, however many clients ask. At 5 % (the first setting) a probe's p99 under a /metrics storm
was still set by the probes that met a render; at 1-2 % they fall below the 99th percentile.

Sending is paced too: :meth:`Bodies.turn` lets big responses out one at a time, in arrival
order, at most one per turn of the loop and one per ``SEND_GAP``. Sixteen scrapers on keep-alive
connections otherwise put sixteen big writes into every turn (a 300-dependency exposition is
600 KB) and keep the loop saturated, and a probe waits behind all of them. A real scraper comes
every few seconds and never notices; a flood is served at ``1 / SEND_GAP`` responses a second,
and the loop keeps its other turns for probes and checks.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from healthgate_sidecar import offload

DUTY = 99.0  # a body is reused for DUTY times its render time: renders take <= 1 % (or MAX_REUSE)
MAX_REUSE = 5.0  # seconds: however slow the render, a body is at most this stale plus a render
SEND_GAP = 0.004  # seconds between two big responses: at most 250 a second, however many ask


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (Prometheus always sends it)."""
    quality: dict[str, float] = {}
    for item in header.split(","):
        coding, _, params = item.partition(";")
        value = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            quality[coding.strip().lower()] = float(value)
        except ValueError:
            quality[coding.strip().lower()] = 0.0
    return quality.get("gzip", quality.get("*", 0.0)) > 0


def encode(body: bytes, *, gzipped: bool) -> bytes:
    """The body as sent: compressed once per render, in the worker (zlib lets go of the GIL).

    Level 1: an exposition shrinks about tenfold all the same, and the loop then writes a tenth
    of the bytes per scrape.
    """
    return gzip.compress(body, compresslevel=1, mtime=0) if gzipped else body


@dataclass(frozen=True, slots=True)
class _Body:
    version: int
    epoch: int  # the engine's status version: a body is never reused across a status change
    data: bytes
    fresh_until: float  # monotonic time until which it is served even for a newer version


class Bodies:
    """Cached bodies by key, each tagged with the engine version it was rendered from."""

    def __init__(self) -> None:
        self._done: dict[Hashable, _Body] = {}
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}
        self._turns = asyncio.Semaphore(1)  # FIFO: no sender waits behind later arrivals

    async def turn(self) -> None:
        """Wait for the sending slot: one big response per turn of the loop and per SEND_GAP.

        The slot is held for SEND_GAP after it is taken, so a second sender waits for it in
        arrival order; probes and checks get the turns in between.
        """
        await self._turns.acquire()
        asyncio.get_running_loop().call_later(SEND_GAP, self._turns.release)

    def cached(self, key: Hashable, version: int, epoch: int) -> bytes | None:
        hit = self._done.get(key)
        if hit is None:
            return None
        if hit.version >= version:
            return hit.data
        return hit.data if hit.epoch == epoch and time.monotonic() < hit.fresh_until else None

    def inline(self, key: Hashable, version: int, build: Callable[[], bytes]) -> bytes:
        """For small bodies (one component): render on the loop, still once per version."""
        hit = self._done.get(key)
        if hit is not None and hit.version == version:
            return hit.data
        body = build()
        self._done[key] = _Body(version, -1, body, 0.0)
        return body

    async def get(
        self, key: Hashable, version: int, epoch: int, build: Callable[[], bytes]
    ) -> bytes:
        """The body of ``version`` (or newer, or a fresh one of ``epoch``), built in a worker.

        One render per key runs at a time: a request arriving meanwhile waits for it and takes
        its body if that is of the same epoch, else renders afresh.
        """
        while True:
            body = self.cached(key, version, epoch)
            if body is not None:
                return body
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._render(key, version, epoch, build))
                self._pending[key] = pending
                # shield: a client that hangs up must not cancel the render others wait for.
                return await asyncio.shield(pending)
            await asyncio.shield(pending)

    async def _render(
        self, key: Hashable, version: int, epoch: int, build: Callable[[], bytes]
    ) -> bytes:
        """Render in the worker; store the body and leave ``_pending`` before the task ends.

        Done in the task itself, not in a done callback: a callback runs a turn later, and a
        request arriving in between found a finished task listed as pending; awaiting a done
        future does not yield, so that request looped, and the event loop spun for good.
        """
        began = time.monotonic()
        try:
            body = await offload.run(build)
        finally:
            self._pending.pop(key, None)
        previous = self._done.get(key)
        if previous is None or previous.version <= version:
            now = time.monotonic()
            fresh_until = now + min(DUTY * (now - began), MAX_REUSE)
            self._done[key] = _Body(version, epoch, body, fresh_until)
        return body

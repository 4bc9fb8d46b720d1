"""Response bodies rendered once per state change, off the event loop, shared by all clients.

A ``/metrics`` exposition of 1,000 dependencies takes hundreds of milliseconds to render: done
on the loop per request, sixteen scrapers starve every probe. Here a body is rendered at most
once per engine version and key, in :mod:`offload`'s worker; concurrent requests for the same
key wait for the one render in flight, so any number of clients costs one render per change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from healthgate_sidecar import offload


class Bodies:
    """Cached bodies by key, each tagged with the engine version it was rendered from."""

    def __init__(self) -> None:
        self._done: dict[Hashable, tuple[int, bytes]] = {}
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}

    def cached(self, key: Hashable, version: int) -> bytes | None:
        hit = self._done.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def inline(self, key: Hashable, version: int, build: Callable[[], bytes]) -> bytes:
        """For small bodies (one component): render on the loop, still once per version."""
        body = self.cached(key, version)
        if body is None:
            body = build()
            self._done[key] = (version, body)
        return body

    async def get(self, key: Hashable, version: int, build: Callable[[], bytes]) -> bytes:
        """The body of ``version``, or of a newer one, rendered by ``build`` in a worker.

        A request arriving while an older version renders waits for that render (at most one
        render per key runs at a time): the answer is at most one render behind.
        """
        body = self.cached(key, version)
        if body is not None:
            return body
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(offload.run(build))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._finish(key, version, done))
        # shield: a client that hangs up must not cancel the render the others wait for.
        return await asyncio.shield(pending)

    def _finish(self, key: Hashable, version: int, done: asyncio.Future[bytes]) -> None:
        self._pending.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            previous = self._done.get(key)
            if previous is None or previous[0] <= version:
                self._done[key] = (version, done.result())

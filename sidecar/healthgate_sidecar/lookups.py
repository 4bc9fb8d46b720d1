"""Name lookups that one hung resolver cannot turn into other dependencies' timeouts.

asyncio runs ``getaddrinfo`` in the loop's default executor: ``min(32, cpus + 4)`` threads shared
by every check (aiohttp's resolver, ``open_connection``, and the redis, psycopg and neo4j drivers
all call ``loop.getaddrinfo``). Lookups that hang (an unanswering nameserver: glibc waits
``timeout`` x ``attempts`` per server) held all six threads of a 2-core pod, and a critical
``http`` check queued behind them timed out.

:func:`install` replaces the running loop's ``getaddrinfo`` with :meth:`Lookups.getaddrinfo`:
- one lookup in flight per query (host, port, family, type, proto, flags), shared by every
  caller: a hung name costs one thread however many checks and rounds wait for it;
- each in its own daemon thread, never a shared pool, so no lookup waits behind another's hang
  (and exit does not wait for a hung one either);
- callers wait behind ``asyncio.shield``: the engine's per-check timeout bounds each wait, and
  a cancelled check leaves the lookup to finish for the next round.
The system resolver stays in charge (``/etc/hosts``, ``search``, ``ndots``), so names resolve
as they do in any other container, and a failed lookup still raises ``socket.gaierror``
(reason ``dns``). Names in flight are capped: past the cap a lookup fails at once as ``dns``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

# Distinct names hanging at once before new ones fail fast: checks are bounded by the config,
# so only a flood of redirects to fresh names gets here; threads must stay bounded even then.
MAX_IN_FLIGHT = 256

Query = tuple[Any, Any, int, int, int, int]
AddrInfo = list[tuple[Any, ...]]


class Lookups:
    """The loop's ``getaddrinfo``: coalesced per query, one thread each, never queued."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._in_flight: dict[Query, asyncio.Future[AddrInfo]] = {}

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,  # asyncio's names, keyword for keyword
        proto: int = 0,
        flags: int = 0,
    ) -> AddrInfo:
        """Same contract as :meth:`asyncio.AbstractEventLoop.getaddrinfo`."""
        query: Query = (host, port, family, type, proto, flags)
        future = self._in_flight.get(query)
        if future is None:
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                raise socket.gaierror(socket.EAI_AGAIN, "too many name lookups in flight")
            future = self._in_flight[query] = self._loop.create_future()
            thread = threading.Thread(
                target=self._resolve, args=(query, future), name="healthgate-lookup", daemon=True
            )
            thread.start()
        return await asyncio.shield(future)

    def _resolve(self, query: Query, future: asyncio.Future[AddrInfo]) -> None:
        """In the lookup's own thread: resolve, then hand the outcome to the loop."""
        outcome: AddrInfo | BaseException
        try:
            outcome = socket.getaddrinfo(*query)
        except Exception as exc:  # gaierror, UnicodeError for bad names...: the caller's to see
            outcome = exc
        # RuntimeError: the loop closed while the name hung, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._settle, query, future, outcome)

    def _settle(
        self, query: Query, future: asyncio.Future[AddrInfo], outcome: AddrInfo | BaseException
    ) -> None:
        if self._in_flight.get(query) is future:
            del self._in_flight[query]
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
            future.exception()  # every waiter may have timed out: that is no unhandled error
        else:
            future.set_result(outcome)


def install(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Route the loop's name lookups through :class:`Lookups` (once per loop)."""
    loop = loop or asyncio.get_running_loop()
    if isinstance(getattr(loop.getaddrinfo, "__self__", None), Lookups):
        return
    # Patching the instance reaches every caller of ``loop.getaddrinfo``, drivers included,
    # which a resolver passed to aiohttp alone would not.
    loop.getaddrinfo = Lookups(loop).getaddrinfo  # type: ignore[method-assign]

"""Client connections: a cap that spares the kubelet's probes, and idle connections closed.

The sidecar's port is reachable from every pod of the cluster. A client that opens thousands
of connections and sends nothing (or half a header) must not use up the file descriptors that
the kubelet's next probe and the dependency checks need. Two limits:

- :data:`IDLE_SECONDS`: aiohttp's keep-alive timeout, which also runs from the moment a
  connection is accepted, so a bare or half-sent-header connection is closed after it too;
- :func:`cap`: at most this many client connections; above it the *oldest idle* ones are
  closed first, never a request in progress, so a fresh probe always gets through. Eviction
  happens as each connection is made, and the listening socket accepts at most
  :data:`BACKLOG` connections per loop turn, so descriptors never run out between two turns.

When the process runs out of descriptors anyway, asyncio pauses accepting for a second and
logs it; :class:`logs.OneLine` keeps that to one line per interval.
"""

from __future__ import annotations

import asyncio
import resource

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

IDLE_SECONDS = 10.0  # keep-alive and header-read timeout (Prometheus reconnects; that's fine)
MAX_CONNECTIONS = 1000
RESERVED_FDS = 128  # for dependency checks, config and secret reads, logs
BACKLOG = 64  # the listen backlog, which is also asyncio's accept batch per loop turn


def cap() -> int:
    """The connection cap: :data:`MAX_CONNECTIONS`, or fewer under a low open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - RESERVED_FDS - BACKLOG))


def _idle_since(handler: RequestHandler) -> float:
    # aiohttp keeps, per connection, when its idle timer expires: the smallest is the oldest.
    # 0 means not set yet: aiohttp tells the server of a connection before it starts its timer,
    # so that connection is the newest, not the oldest.
    close_time = float(getattr(handler, "_next_keepalive_close_time", 0.0))
    return close_time if close_time > 0 else float("inf")


def evict(server: web.Server, limit: int, *, spare: RequestHandler | None = None) -> int:
    """Close the oldest idle connections above ``limit``; returns how many were closed.

    ``spare`` (the connection just made) is never a victim: it may be the kubelet's probe.
    """
    handlers = server.connections
    excess = len(handlers) - limit
    if excess <= 0:
        return 0
    idle = [h for h in handlers if h is not spare and not getattr(h, "_request_in_progress", False)]
    if excess == 1 and idle:  # the usual case under a flood: one in, one out, O(n)
        victims = [min(idle, key=_idle_since)]
    else:
        victims = sorted(idle, key=_idle_since)[:excess]
    for handler in victims:
        handler.force_close()
    return len(victims)


def guard(server: web.Server, *, limit: int) -> None:
    """Keep ``server`` at most ``limit`` connections, checked as each one is made."""
    made = server.connection_made

    def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
        made(handler, transport)
        if len(server.connections) > limit:
            evict(server, limit, spare=handler)

    server.connection_made = connection_made  # type: ignore[method-assign]

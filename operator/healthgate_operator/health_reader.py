"""Read the sidecars' ``/health`` from pod IPs: short timeout, bounded concurrency, no raising.

An unreachable, slow or garbled sidecar is an answer (None), not an error: the status round
counts it as unknown and carries on; one bad pod must not cost a gate its whole status.

Why a bare non-blocking socket driven by the loop's reader/writer callbacks instead of an
aiohttp client session: the status rounds ask every injected pod once per interval, so the
per-request cost is multiplied by the fleet. Measured with 2,000 simulated sidecars
(``bench.operator_status_cost``), CPU per pod: aiohttp 1.5 ms with a fresh connection; an
``asyncio.Protocol`` on ``create_connection`` 0.38-0.48 ms; a coroutine per pod on the loop's
``sock_*`` calls 0.25-0.38 ms; these callbacks 0.16-0.23 ms (interleaved, load average 8-14),
against a floor of 0.11-0.16 ms for a bare blocking exchange with no event loop at all.

Why our own ``epoll``, one descriptor on the loop, instead of the loop's ``add_reader`` per
socket (issue 16, 10,000 pods on one replica): the loop's registration is Python bookkeeping
(a handle, a selector key, a lookup to remove it) around each ``epoll_ctl``, and each ready
socket is its own scheduled callback. Here a socket is registered with one C call and leaves
the epoll by being closed; one callback runs every ready exchange. With the request sent at
once and one deadline timer: 0.19 ms before, 0.11-0.14 ms after (3,000 simulated sidecars in
gate-sized batches, interleaved, load average 15). Linux only, as is the operator's image.

Connections are not kept: the sidecar closes an idle one after 10 s (its header-read guard, a
defence against slow clients), the default interval, so a pooled connection would be gone by
the next round. The request is one fixed line; the answer is the sidecar's own
(``Content-Length``, JSON), framed and decoded by :mod:`healthgate_operator.health_answers`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import select
import socket

from healthgate_operator import health_answers
from healthgate_operator.kubetypes import Json
from healthgate_sidecar import wire

REQUESTS_KEPT = 20_000  # request lines kept, one per (IP, port): the bytes of one round
# Non-blocking from the start: one system call less than socket() and then setblocking().
NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK


class _Exchange:
    """One request to one sidecar, driven by the loop's reader/writer callbacks."""

    __slots__ = ("batch", "buffer", "connecting", "expected", "index", "sock", "target")

    def __init__(self, batch: _Batch, index: int, target: tuple[str, int]) -> None:
        self.batch, self.index, self.target = batch, index, target
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.expected: int | None = None  # total length, once the head is in
        self.connecting = False  # waiting for the handshake (writability), not the answer


class _Batch:
    """The answers of one ``many`` call; ``done`` resolves when the last one is in."""

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self.answers: list[bytes] = [b""] * count
        self.left = count
        self.done: asyncio.Future[None] = loop.create_future()
        self.open: set[_Exchange] = set()


class HealthReader:
    """Every sidecar exchange of every gate, at most ``concurrency`` open at once.

    Why callbacks and not a coroutine per pod (``sock_connect``/``sock_recv`` under a
    semaphore and a timeout, as before): per pod that was a task, a timeout scope, a semaphore
    and three futures, and that bookkeeping, not the socket calls, was most of the 0.37 ms of
    CPU per pod (``bench.operator_status_cost``). Here an exchange is a socket, one epoll
    registration (two when the handshake is still pending after connect) and a deadline.
    Exchanges wait in one queue across gates (first come, first served); each one's timeout
    runs from its own connect, so a frozen sidecar costs only its own answer and holds one
    slot for at most ``timeout``.
    """

    def __init__(self, *, timeout: float, concurrency: int) -> None:
        self.timeout = timeout
        self.concurrency = concurrency
        self._queue: collections.deque[_Exchange] = collections.deque()
        # (deadline, exchange) by start, so by deadline (one timeout for all): one timer for
        # the oldest open exchange instead of a timer per exchange (scheduled and cancelled
        # 10,000 times a round at 10,000 pods).
        self._deadlines: collections.deque[tuple[float, _Exchange]] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._active = 0
        self._pumping = False
        self._requests: dict[tuple[str, int], bytes] = {}
        self._decoded = health_answers.Decoded()
        self._poll: select.epoll | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # where the epoll and timer hang
        self._by_fd: dict[int, _Exchange] = {}  # registered in our epoll

    async def open(self) -> None:
        """Nothing to open (kept so the runtime's life cycle reads the same for every client)."""

    async def close(self) -> None:
        """Nothing pooled to close (each exchange closes its connection); only our epoll, once
        nothing is open or queued (what is still asked finishes by its deadline, as before)."""
        if not self._active and not self._queue:
            self._bind(None)

    def _bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Our epoll and deadline timer on ``loop``: what hung on another (closed) loop is
        dropped, or its exchanges would hold slots, and its timer the deadlines, for good."""
        if loop is self._loop:
            return
        if self._poll is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # that loop is closed already
                self._loop.remove_reader(self._poll.fileno())
            self._poll.close()
        for exchange in self._by_fd.values():
            if exchange.sock is not None:
                exchange.sock.close()
        self._by_fd.clear()
        self._deadlines.clear()
        self._queue.clear()
        self._sweeper, self._active, self._poll, self._loop = None, 0, None, loop
        if loop is not None:
            self._poll = select.epoll()
            loop.add_reader(self._poll.fileno(), self._dispatch, loop)

    async def health(self, ip: str, port: int) -> Json | None:
        """The parsed /health of one sidecar, or None."""
        return (await self.many([(ip, port)]))[0]

    async def many(self, targets: list[tuple[str, int]]) -> list[Json | None]:
        """The parsed /health of each target, in order (None: no valid answer in time)."""
        if not targets:
            return []
        loop = asyncio.get_running_loop()
        self._bind(loop)
        batch = _Batch(len(targets), loop)
        self._queue.extend(_Exchange(batch, i, t) for i, t in enumerate(targets))
        self._pump(loop)
        try:
            await batch.done
        finally:
            if batch.left:  # cancelled: nothing of this batch may stay open or queued
                self._queue = collections.deque(x for x in self._queue if x.batch is not batch)
                for exchange in list(batch.open):
                    self._finish(loop, exchange, b"")
        return [self._decoded(raw) for raw in batch.answers]

    def _request(self, target: tuple[str, int]) -> bytes:
        request = self._requests.get(target)
        if request is None:
            ip, port = target
            host = f"[{ip}]" if ":" in ip else ip
            request = (
                f"GET {wire.HEALTH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n"
            ).encode()
            if len(self._requests) >= REQUESTS_KEPT:
                self._requests.clear()
            self._requests[target] = request
        return request

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pumping:
            return  # an exchange that failed at once, inside _start: the loop below goes on
        self._pumping = True
        try:
            while self._queue and self._active < self.concurrency:
                self._start(loop, self._queue.popleft())
        finally:
            self._pumping = False

    def _start(self, loop: asyncio.AbstractEventLoop, exchange: _Exchange) -> None:
        self._active += 1
        exchange.batch.open.add(exchange)
        ip, port = exchange.target
        deadline = loop.time() + self.timeout
        self._deadlines.append((deadline, exchange))
        if self._sweeper is None:
            self._sweeper = loop.call_at(deadline, self._sweep, loop)
        try:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = exchange.sock = socket.socket(family, NONBLOCKING_STREAM)
            code = sock.connect_ex((ip, port))
        except OSError:
            self._finish(loop, exchange, b"")
            return
        if code == errno.EINPROGRESS:
            # On loopback and on a pod network's veth the handshake has mostly completed by
            # the time connect returns: sending at once saves waiting for writability (a
            # selector registration, a callback and SO_ERROR); a socket still connecting
            # refuses with EAGAIN and waits as before.
            self._send(loop, exchange, connecting=True)
        elif code == 0:
            self._send(loop, exchange)
        else:
            self._finish(loop, exchange, b"")

    def _watch(self, loop: asyncio.AbstractEventLoop, exchange: _Exchange, events: int) -> None:
        """Register the exchange's socket in our epoll."""
        assert exchange.sock is not None
        assert self._poll is not None
        fd = exchange.sock.fileno()
        self._poll.register(fd, events)
        self._by_fd[fd] = exchange

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Our epoll is readable: run each ready exchange's step.

        A stale event (its socket closed and its number reused in this very pass) finds the
        new exchange, whose ``recv`` then only says "would block": harmless.
        """
        assert self._poll is not None
        for fd, _ in self._poll.poll(0):
            exchange = self._by_fd.get(fd)
            if exchange is None:
                continue
            if exchange.connecting:
                self._connected(loop, exchange)
            else:
                self._readable(loop, exchange)

    def _unwatch(self, exchange: _Exchange) -> int:
        """Forget the exchange's socket; its descriptor (closing it leaves our epoll too)."""
        assert exchange.sock is not None
        fd = exchange.sock.fileno()
        if self._by_fd.get(fd) is exchange:
            del self._by_fd[fd]
        return fd

    def _connected(self, loop: asyncio.AbstractEventLoop, exchange: _Exchange) -> None:
        assert exchange.sock is not None
        assert self._poll is not None
        self._poll.unregister(self._unwatch(exchange))  # rare: registered again for the answer
        exchange.connecting = False
        if exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._finish(loop, exchange, b"")
        else:
            self._send(loop, exchange)

    def _send(
        self, loop: asyncio.AbstractEventLoop, exchange: _Exchange, *, connecting: bool = False
    ) -> None:
        assert exchange.sock is not None
        request = self._request(exchange.target)
        try:  # a request of ~100 bytes always fits an empty socket buffer
            sent = exchange.sock.send(request)
        except BlockingIOError:
            if connecting:  # the handshake is not done yet: wait for it
                exchange.connecting = True
                self._watch(loop, exchange, select.EPOLLOUT)
                return
            sent = 0
        except OSError:  # refused, reset: no answer, as from SO_ERROR after the wait
            sent = 0
        if sent != len(request):
            self._finish(loop, exchange, b"")
        else:
            self._watch(loop, exchange, select.EPOLLIN)

    def _readable(self, loop: asyncio.AbstractEventLoop, exchange: _Exchange) -> None:
        assert exchange.sock is not None
        try:
            data = exchange.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buffer = exchange.buffer
        buffer += data
        if len(buffer) > health_answers.MAX_BODY:
            self._finish(loop, exchange, b"")
            return
        if exchange.expected is None:
            exchange.expected = health_answers.expected_length(buffer)
        if not data or (exchange.expected is not None and len(buffer) >= exchange.expected):
            # "Connection: close" without a length: the body ends with the connection.
            self._finish(loop, exchange, bytes(buffer))

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out every exchange past its deadline; wake again at the next open one's."""
        now, deadlines = loop.time(), self._deadlines
        while deadlines:
            deadline, exchange = deadlines[0]
            if exchange not in exchange.batch.open:  # answered, failed or cancelled meanwhile
                deadlines.popleft()
            elif deadline <= now:
                deadlines.popleft()
                self._finish(loop, exchange, b"")  # may start queued ones: appended behind
            else:
                self._sweeper = loop.call_at(deadline, self._sweep, loop)
                return
        self._sweeper = None

    def _finish(self, loop: asyncio.AbstractEventLoop, exchange: _Exchange, raw: bytes) -> None:
        batch = exchange.batch
        if exchange not in batch.open:
            return  # already finished (a callback after the timeout)
        batch.open.discard(exchange)
        if exchange.sock is not None:
            self._unwatch(exchange)
            exchange.sock.close()  # which also takes it out of our epoll
        batch.answers[exchange.index] = raw
        batch.left -= 1
        self._active -= 1
        if not batch.left and not batch.done.done():
            batch.done.set_result(None)
        self._pump(loop)

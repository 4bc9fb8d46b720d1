"""health_reader.HealthReader against small local HTTP servers: answers, 503s, garbage, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from healthgate_operator.health_reader import HealthReader
from tests.env import common

pytestmark = pytest.mark.integration
MODE = web.AppKey("mode", dict[str, str])


async def handler(request: web.Request) -> web.StreamResponse:
    mode = request.app[MODE]["mode"]
    if mode == "slow":
        await asyncio.sleep(2)
    if mode == "garbage":
        return web.Response(text="<html>")
    if mode == "teapot":
        return web.Response(status=418)
    if mode == "huge":
        return web.Response(body=b'{"status": "' + b"x" * (2 << 20) + b'"}')
    if mode == "split":  # the body arrives in two packets: the length says when it is complete
        body = b'{"status": "healthy", "components": {}}'
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[:10])
        await asyncio.sleep(0.05)
        await resp.write(body[10:])
        return resp
    status = 503 if mode == "not-ready" else 200
    return web.json_response({"status": "healthy", "components": {}}, status=status)


@pytest.fixture
async def server() -> AsyncIterator[tuple[web.Application, int]]:
    app = web.Application()
    app[MODE] = {"mode": "ok"}
    app.router.add_get("/health", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: the kernel picks, no race
    yield app, runner.addresses[0][1]
    await runner.cleanup()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("ok", {"status": "healthy", "components": {}}),
        ("not-ready", {"status": "healthy", "components": {}}),
        ("split", {"status": "healthy", "components": {}}),
        ("garbage", None),
        ("teapot", None),
        ("huge", None),
        ("slow", None),
    ],
)
async def test_answers(server: tuple[web.Application, int], mode: str, expected: object) -> None:
    app, port = server
    app[MODE]["mode"] = mode
    reader = HealthReader(timeout=0.3, concurrency=4)
    await reader.open()
    try:
        assert await reader.health("127.0.0.1", port) == expected
    finally:
        await reader.close()


async def test_closed_port_is_none() -> None:
    reader = HealthReader(timeout=0.3, concurrency=4)
    await reader.open()
    try:
        assert await reader.many([("127.0.0.1", common.free_port())]) == [None]
    finally:
        await reader.close()


async def test_a_frozen_sidecar_costs_only_its_own_answer(
    server: tuple[web.Application, int],
) -> None:
    """A peer that accepts and never answers (a frozen sidecar) is None after the timeout,
    while the other targets in the same call answer."""
    _, port = server
    frozen = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    frozen_port = frozen.sockets[0].getsockname()[1]
    reader = HealthReader(timeout=0.3, concurrency=2)
    try:
        answers = await reader.many(
            [("127.0.0.1", frozen_port), ("127.0.0.1", port), ("127.0.0.1", port)]
        )
    finally:
        frozen.close()
    healthy = {"status": "healthy", "components": {}}
    assert answers == [None, healthy, healthy]


async def test_concurrency_is_bounded_across_calls() -> None:
    """Two gates' calls at once share one bound: never more sidecars open than allowed."""
    open_now, most = 0, 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.05)
        body = b'{"status": "healthy", "components": {}}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()
        open_now -= 1

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = HealthReader(timeout=5, concurrency=2)
    try:
        first, second = await asyncio.gather(
            reader.many([("127.0.0.1", port)] * 4), reader.many([("127.0.0.1", port)] * 4)
        )
    finally:
        server.close()
    assert None not in first + second
    assert most == 2
    assert first[0] is second[3]  # the same bytes are decoded once and shared


async def test_a_cancelled_call_leaves_nothing_open(server: tuple[web.Application, int]) -> None:
    """A gate whose refresh is cancelled (its daemon stopped) gives back every slot."""
    _, port = server
    frozen = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    frozen_port = frozen.sockets[0].getsockname()[1]
    reader = HealthReader(timeout=30, concurrency=2)
    try:
        call = asyncio.create_task(reader.many([("127.0.0.1", frozen_port)] * 5))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        async with asyncio.timeout(5):  # slots still held would keep it waiting 30 s each
            answers = await reader.many([("127.0.0.1", port)] * 3)
        assert answers == [{"status": "healthy", "components": {}}] * 3
    finally:
        frozen.close()


async def test_exchanges_that_fail_at_once_do_not_recurse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sockets that cannot even be made (out of file descriptors) fail inside the start of
    the exchange; thousands of them in a row must not nest one call per failure."""

    def no_socket(*_: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("healthgate_operator.health_reader.socket.socket", no_socket)
    reader = HealthReader(timeout=1, concurrency=4)
    assert await reader.many([("127.0.0.1", 1)] * 5000) == [None] * 5000


async def test_a_handshake_not_done_at_once_is_waited_for() -> None:
    """The request is sent right after connect when the handshake is already done (loopback);
    a peer whose accept queue is full leaves the handshake pending, and the exchange must wait
    for it (the kernel retries the SYN) instead of counting the pod as unreachable."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # room for one connection, taken by the filler
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(listener.getsockname())
    reader = HealthReader(timeout=10, concurrency=2)
    call = asyncio.create_task(reader.many([listener.getsockname()]))
    await asyncio.sleep(0.2)
    assert not call.done()

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):
            await r.readuntil(b"\r\n\r\n")
        body = b'{"status": "healthy", "components": {}}'
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await w.drain()
        w.close()

    server = await asyncio.start_server(answer, sock=listener)  # now the queue drains
    try:
        assert await call == [{"status": "healthy", "components": {}}]
    finally:
        filler.close()
        server.close()


def test_one_reader_on_two_loops_in_turn() -> None:
    """The reader's epoll and deadline timer hang on the loop that made them: on a new loop
    (tests; a restarted loop) the reader makes its own, and a frozen sidecar there still
    times out, though the first loop closed with the timer pending."""
    body = b'{"status": "healthy", "components": {}}'

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await w.drain()
        w.close()

    reader = HealthReader(timeout=0.5, concurrency=2)

    async def ask(frozen: bool = False) -> list[object]:
        serve = (lambda r, w: asyncio.sleep(3600)) if frozen else answer
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        try:
            async with asyncio.timeout(10):  # not forever, if no timer runs on this loop
                return list(await reader.many([server.sockets[0].getsockname()[:2]] * 3))
        finally:
            server.close()

    expected = [{"status": "healthy", "components": {}}] * 3
    assert asyncio.run(ask()) == expected  # ends with the deadline timer still pending
    assert asyncio.run(ask(frozen=True)) == [None] * 3
    assert asyncio.run(ask()) == expected
    asyncio.run(reader.close())
    assert asyncio.run(ask()) == expected


async def test_close_while_asking_still_answers_by_the_deadline() -> None:
    """close() lets go of the epoll only when nothing is asked: a call in flight (a shutdown
    racing a refresh) still ends, with no answer from a frozen sidecar, by its deadline."""
    frozen = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    reader = HealthReader(timeout=0.3, concurrency=1)
    try:
        call = asyncio.create_task(reader.many([frozen.sockets[0].getsockname()[:2]] * 2))
        await asyncio.sleep(0.05)
        await reader.close()
        async with asyncio.timeout(10):
            assert await call == [None, None]
    finally:
        frozen.close()

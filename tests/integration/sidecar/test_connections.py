"""Misbehaving clients against the real CLI: idle and half-sent connections, a descriptor flood.

The sidecar's port is open to every pod of the cluster; whatever clients do, the kubelet's
next probe must be answered and the dependency checks must keep running.
"""

from __future__ import annotations

import asyncio
import resource
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from healthgate_sidecar import connections
from tests.integration.sidecar.conftest import Served, env_config

Serve = Callable[..., Served]


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _connect(served: Served, opened: list[socket.socket]) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    opened.append(sock)
    return sock


@pytest.mark.parametrize("send", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"])
def test_idle_and_half_sent_connections_are_closed(
    serve: Serve, tmp_path: Path, sockets: list[socket.socket], send: bytes
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config)
    sock = _connect(served, sockets)
    sock.sendall(send)
    assert sock.recv(1) == b""  # closed by the sidecar (before: held open for an hour)


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_a_connection_flood_leaves_room_for_probes_and_checks(
    serve: Serve, tmp_path: Path, sockets: list[socket.socket]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config, preexec_fn=_low_nofile)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    for _ in range(400):  # far more than the 256 descriptors the sidecar may open
        _connect(served, sockets)
    for _ in range(20):
        assert served.get("/readyz")[0] == 200  # fresh connections, like the kubelet's
    assert served.get("/health/home")[0] == 200
    log = served.log.read_text()
    assert "Traceback" not in log
    assert log.count("Too many open files") <= 1


async def test_the_connection_just_made_is_never_the_one_evicted() -> None:
    """Above the cap the oldest idle connection goes, not the new one (it may be a probe).

    aiohttp registers a connection before it starts the connection's idle timer; read as
    "oldest", the newest connection was evicted: under a flood every fresh probe was reset.
    """

    async def ok(_: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")

    server = web.Server(ok, keepalive_timeout=connections.IDLE_SECONDS)
    connections.guard(server, limit=2)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.05)  # both accepted, idle timers running
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        first_reader, _ = idle[0]
        assert await asyncio.wait_for(first_reader.read(), timeout=5) == b""  # the oldest went
        for _, w in idle:
            w.close()
        writer.close()
    finally:
        listener.close()
        await server.shutdown(1)

"""A SIMULATED sidecar fleet: one process answering ``GET /health`` on many loopback addresses.

Not HealthGate's sidecar: a minimal HTTP/1.1 responder (keep-alive, fixed bodies) so that
10,000 "pods" cost the benchmark one process instead of 10,000. Each address is one pod IP
(127.20.x.y); the body has the shape of the real sidecar's ``/health`` without a token.

Control, on ``127.0.0.1:<control port>``: ``GET /status/<healthy|unhealthy>/<first>/<count>``
sets the reported status of addresses ``first .. first+count-1``; ``GET /freeze/<i>`` makes
address ``i`` accept connections and never answer (a frozen sidecar).

Run: ``python -m bench._sidecar_fleet COUNT PORT CONTROL_PORT`` (prints "ready" when listening).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys

BODIES = {
    status: json.dumps(
        {
            "status": status,
            "ready": status == "healthy",
            "components": {
                "cache": {"status": status, "type": "redis", "critical": True},
                "site": {"status": "healthy", "type": "http", "critical": False},
            },
        }
    ).encode()
    for status in ("healthy", "unhealthy")
}


def address(i: int) -> str:
    """The i-th simulated pod IP."""
    return f"127.20.{i // 250}.{i % 250 + 1}"


def response(body: bytes, code: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


RESPONSES = {status: response(body) for status, body in BODIES.items()}


class Fleet:
    def __init__(self, count: int) -> None:
        self.status = ["healthy"] * count
        self.frozen: set[int] = set()
        self.answered = 0


class Sidecar(asyncio.Protocol):
    """One connection to simulated pod ``index``: answers each complete request head."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet, self.index, self.buffer = fleet, index, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if self.index in self.fleet.frozen:
                continue  # accepted, never answered: a frozen sidecar
            self.fleet.answered += 1
            self.transport.write(RESPONSES[self.fleet.status[self.index]])


class Control(asyncio.Protocol):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        parts = data.split(b" ", 2)[1].decode().strip("/").split("/")
        if parts[0] == "status":
            first, count = int(parts[2]), int(parts[3])
            for i in range(first, first + count):
                self.fleet.status[i] = parts[1]
        elif parts[0] == "freeze":
            self.fleet.frozen.add(int(parts[1]))
        body = json.dumps({"answered": self.fleet.answered}).encode()
        self.transport.write(
            response(body).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        )
        self.transport.close()


async def serve(count: int, port: int, control_port: int) -> None:
    fleet = Fleet(count)
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(
            lambda i=i: Sidecar(fleet, i),  # type: ignore[misc]
            address(i),
            port,
            backlog=64,
        )
        for i in range(count)
    ]
    servers.append(await loop.create_server(lambda: Control(fleet), "127.0.0.1", control_port))
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    count, port, control_port = (int(a) for a in sys.argv[1:4])
    # A listening socket per address plus one kept-alive connection each: more than the usual
    # limit; root may raise the hard limit too.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 3 * count), max(hard, 3 * count)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(count, port, control_port))


if __name__ == "__main__":
    main()

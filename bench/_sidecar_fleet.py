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

import json
import resource
import select
import socket
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
CONTROL = -1  # the pod index of the control listener
BACKLOG = 64


class Fleet:
    """Every simulated sidecar: listening sockets, open connections, statuses, frozen ones.

    Why a bare ``epoll`` loop and not asyncio protocols (as before): the operator opens a
    connection per pod and round, and asyncio's per-connection work (a transport, its selector
    registrations, callbacks) cost this process ~0.16 ms of CPU per pod, as much as the
    operator's own exchange; on 2 cores the simulation then competed with what it measures.
    Here a connection whose request has arrived by the time it is accepted (the usual case on
    loopback) is answered and closed without ever being registered.
    """

    def __init__(self, count: int, port: int, control_port: int) -> None:
        self.status = ["healthy"] * count
        self.frozen: set[int] = set()
        self.answered = 0
        self.poll = select.epoll()
        self.listeners: dict[int, tuple[socket.socket, int]] = {}  # fd -> (socket, pod index)
        self.open: dict[int, tuple[socket.socket, int, bytearray]] = {}  # fd -> connection
        for i in range(count):
            self._listen(address(i), port, i)
        self._listen("127.0.0.1", control_port, CONTROL)

    def _listen(self, ip: str, port: int, index: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(BACKLOG)
        self.listeners[sock.fileno()] = (sock, index)
        self.poll.register(sock.fileno(), select.EPOLLIN)

    def serve(self) -> None:
        while True:
            for fd, _ in self.poll.poll():
                if fd in self.listeners:
                    self._accept(*self.listeners[fd])
                elif fd in self.open:
                    self._read(fd)

    def _accept(self, listener: socket.socket, index: int) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of descriptors: the client times out, as a pod would
                return
            conn.setblocking(False)
            self.open[conn.fileno()] = (conn, index, bytearray())
            if not self._read(conn.fileno(), registered=False):
                self.poll.register(conn.fileno(), select.EPOLLIN)

    def _read(self, fd: int, *, registered: bool = True) -> bool:
        """Answer each complete request head; False while the connection stays open."""
        conn, index, buffer = self.open[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        buffer += data
        while b"\r\n\r\n" in buffer:
            end = buffer.index(b"\r\n\r\n") + 4
            head, buffer[:] = bytes(buffer[:end]), buffer[end:]
            if index == CONTROL:
                conn.send(self.control(head))
                data = b""  # answered: close
                break
            if index in self.frozen:
                continue  # accepted, never answered: a frozen sidecar
            self.answered += 1
            conn.send(RESPONSES[self.status[index]])  # a few hundred bytes: always fits
            if b"connection: close" in head.lower():
                data = b""
                break
        if data:
            return False
        del self.open[fd]
        if registered:
            self.poll.unregister(fd)
        conn.close()
        return True

    def control(self, head: bytes) -> bytes:
        parts = head.split(b" ", 2)[1].decode().strip("/").split("/")
        if parts[0] == "status":
            first, count = int(parts[2]), int(parts[3])
            for i in range(first, first + count):
                self.status[i] = parts[1]
        elif parts[0] == "freeze":
            self.frozen.add(int(parts[1]))
        body = json.dumps({"answered": self.answered}).encode()
        return response(body).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


def main() -> None:
    count, port, control_port = (int(a) for a in sys.argv[1:4])
    # A listening socket per address plus one kept-alive connection each: more than the usual
    # limit; root may raise the hard limit too.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 3 * count), max(hard, 3 * count)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fleet = Fleet(count, port, control_port)
    print("ready", flush=True)
    fleet.serve()


if __name__ == "__main__":
    main()

"""Names that do not resolve, through the system resolver, without a query leaving this machine.

The tcp and http checks resolve with getaddrinfo and the dns check without ``nameservers`` reads
/etc/resolv.conf; both would ask the machine's own resolver, which is off this machine (the
network rule forbids that) and whose answers these tests do not control. So the sidecar runs as
a subprocess in its own mount namespace (``unshare --mount``), with a resolv.conf bind-mounted
over /etc/resolv.conf that names the tests' DNS server on a loopback address, port 53.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import pytest

from tests.integration.sidecar.conftest import Served, dns_answer

Serve = Callable[..., Served]


class LocalResolver:
    """The tests' DNS answers on <loopback address>:53, in a thread; remembers what it was asked."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):  # a random 127/8 address, so parallel runs do not collide
            self.address = f"127.53.{random.randrange(256)}.{random.randrange(1, 255)}"
            try:
                self.sock.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free loopback address for port 53")
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.asked.append(dns.message.from_wire(data).question[0].name.to_text())
            self.sock.sendto(dns_answer(data), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[tuple[LocalResolver, list[str]]]:
    """The local resolver and the command prefix that makes a process use it."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to give the sidecar its own resolv.conf")
    local = LocalResolver()
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver {local.address}\noptions timeout:1 attempts:1\n")
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    yield local, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(conf)]
    local.close()


CASES = {
    "tcp": {"type": "tcp", "tcp": {"host": "does-not-exist.invalid", "port": 443}},
    "http": {"type": "http", "http": {"url": "http://does-not-exist.invalid/"}},
    "dns": {"type": "dns", "dns": {"name": "does-not-exist.invalid"}},
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_unresolvable_name_is_a_dns_failure(
    serve: Serve, resolver: tuple[LocalResolver, list[str]], tmp_path: Path, kind: str
) -> None:
    local, wrap = resolver
    dep = {"name": "target", "intervalSeconds": 0.5, "timeoutSeconds": 0.4, **CASES[kind]}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dependencies": [dep]}))
    served = serve(config, wrap=wrap)

    def target() -> dict[str, object]:
        component: dict[str, object] = json.loads(served.get("/health")[1])["components"]["target"]
        return component

    served.wait(lambda: target()["status"] == "unhealthy", timeout=15)
    assert target()["reason"] == "dns"
    # The answer came from the tests' server, so no query went to the machine's resolver.
    assert "does-not-exist.invalid." in local.asked

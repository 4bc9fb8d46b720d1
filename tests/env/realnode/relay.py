"""A TCP relay on the bridge's own address to a server on this machine's loopback.

Servers that stay on the host (the API server, Neo4j, PostgreSQL, a Redis a benchmark stops)
listen on loopback only, which pods in their own network namespaces cannot reach. Debian's socat
listens on the bridge's address, inside the node's range (pods have a route to it and to nothing
else), and forwards each connection to the loopback port. Its lock file names ``workdir``, so
:func:`tests.env.realnode.host.processes_mentioning` finds a relay a crash left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.env import common
from tests.env.realnode import host


@dataclass
class Relay:
    """``host.BRIDGE_ADDRESS:port`` -> ``target``; :meth:`stop` ends it."""

    process: common.Process
    port: int
    target: str

    @property
    def address(self) -> str:
        return f"{host.BRIDGE_ADDRESS}:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def start(name: str, target: str, workdir: Path) -> Relay:
    """Relay to ``target`` (``host:port`` on loopback), logs and lock file in ``workdir``."""
    socat = common.which_or_install("socat", "socat")
    workdir.mkdir(parents=True, exist_ok=True)
    port = common.free_port(host.BRIDGE_ADDRESS)
    proc = common.spawn(
        name,
        [
            socat,
            f"-L{workdir / 'relay.lock'}",
            f"TCP-LISTEN:{port},bind={host.BRIDGE_ADDRESS},fork,reuseaddr",
            f"TCP:{target}",
        ],
        log_dir=workdir,
    )
    common.wait_until(
        f"the relay to {target}",
        lambda: common.port_open(host.BRIDGE_ADDRESS, port),
        timeout=10,
        proc=proc,
    )
    return Relay(process=proc, port=port, target=target)

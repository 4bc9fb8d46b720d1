"""A real gRPC server with grpcio's standard health servicer, in a subprocess, plaintext or TLS.

It serves ``grpc.health.v1.Health`` with fixed statuses per service name (:data:`STATUSES`), so
tests see every answer a real server gives: SERVING, NOT_SERVING, UNKNOWN, and NOT_FOUND for a
service it does not know. The subprocess binds port 0 and writes the port it got to a file,
so no other process can take the port between choosing and binding; a restart (``stop`` then
``start``) binds the same port again, as a restarted server behind a Service would.
Run as ``python -m tests.env.grpc_health PORTFILE PORT [CERT KEY]`` (PORT 0: any).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.env import common, pki

SERVER_NAME = "grpc.healthgate.test"  # in the certificate, not in any DNS: tests set serverName
# Service name -> status; "" is the whole server.
STATUSES = {"": "SERVING", "app.Serving": "SERVING", "app.Down": "NOT_SERVING",
            "app.Unknown": "UNKNOWN"}  # fmt: skip


@dataclass
class GrpcServer:
    """A running server; ``stop``/``start`` simulate an outage on the same port."""

    host: str
    workdir: Path
    ca: Path | None  # the CA that signed the server certificate, when TLS
    key_pair: tuple[Path, Path] | None  # (certificate, key), when TLS
    port: int = 0  # 0 until the first start
    process: common.Process | None = None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        portfile = self.workdir / "port"
        portfile.unlink(missing_ok=True)
        argv: list[str | Path] = [sys.executable, "-m", "tests.env.grpc_health", portfile]
        argv += [str(self.port), *(self.key_pair or ())]
        self.process = common.spawn(
            "grpc-server", argv, log_dir=self.workdir, cwd=common.ENV_DIR.parents[1]
        )
        common.wait_until("grpc server", portfile.exists, timeout=30, proc=self.process)
        self.port = int(portfile.read_text())

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def start(workdir: Path, *, tls: bool = False, host: str = "127.0.0.1") -> GrpcServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = GrpcServer(host=host, workdir=workdir, ca=None, key_pair=None)
    if tls:
        ca = pki.CertificateAuthority(workdir / "pki", name="healthgate-grpc-ca")
        pair = ca.issue("server", SERVER_NAME, hosts=(SERVER_NAME, host), server=True)
        server.ca, server.key_pair = ca.cert, (pair.cert, pair.key)
    server.start()
    return server


async def _serve(portfile: Path, port: int, cert: Path | None, key: Path | None) -> None:
    import grpc  # noqa: PLC0415 - only the subprocess needs the server side
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: PLC0415

    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    for name, status in STATUSES.items():
        await servicer.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(status))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if cert is not None and key is not None:
        creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        port = server.add_secure_port(f"127.0.0.1:{port}", creds)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.rename(portfile)  # atomically: the parent never reads half a number
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(grace=1)


def main(argv: list[str]) -> None:
    portfile, port = Path(argv[0]), int(argv[1])
    cert, key = (Path(argv[2]), Path(argv[3])) if len(argv) == 4 else (None, None)
    asyncio.run(_serve(portfile, port, cert, key))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Temporal's own dev server (``temporal server start-dev``), built from the Go module proxy.

The grpc check exists for apps that depend on a Temporal workflow engine, whose frontend serves
``grpc.health.v1.Health`` for ``temporal.api.workflowservice.v1.WorkflowService``. The Temporal
CLI module (``github.com/temporalio/cli``) embeds a whole Temporal server and is served by the
proxy here; its dev server keeps its state in SQLite in memory and binds every port on the
address we give it (frontend, history, matching, worker, metrics, HTTP API: all loopback). The
web UI is off (``--headless``). Cold build: ~430 CPU-seconds (an estimated 4-5 min on two cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.env import common, versions

SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
START_TIMEOUT = 120.0  # ~5 s on a quiet machine; SQLite schema set-up and four services


@dataclass
class TemporalServer(common.BinaryServer):
    """A running dev server; ``frontend`` is the gRPC address apps connect to."""

    name = "temporal"
    start_timeout = START_TIMEOUT
    stop_timeout = 30.0
    poll_interval = 0.5

    @property
    def frontend(self) -> str:
        return f"{self.host}:{self.port}"

    def argv(self) -> list[str | Path]:
        return [
            self.binary, "server", "start-dev", "--headless",
            f"--ip={self.host}", f"--port={self.port}",
            f"--http-port={common.free_port(self.host)}",
            f"--metrics-port={common.free_port(self.host)}",
            "--log-format=json", "--log-level=warn",
            # No user's ~/.config/temporalio or TEMPORAL_* variables: the same server everywhere.
            "--disable-config-file", "--disable-config-env",
        ]  # fmt: skip

    def ready(self) -> bool:
        """Ready: the frontend's own health service says its WorkflowService is SERVING."""
        import grpc  # noqa: PLC0415 - only the tests that start Temporal need it
        from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

        if not common.port_open(self.host, self.port):
            return False
        with grpc.insecure_channel(self.frontend) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
            except grpc.RpcError:
                return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def ensure_installed() -> Path:
    return common.go_component("temporal", versions.TEMPORAL_CLI) / "temporal"


def start(workdir: Path, host: str = "127.0.0.1") -> TemporalServer:
    binary = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = TemporalServer(host=host, port=common.free_port(host), workdir=workdir, binary=binary)
    server.start()
    return server

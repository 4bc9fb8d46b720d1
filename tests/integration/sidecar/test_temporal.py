"""The grpc check against Temporal's own frontend (``temporal server start-dev``, tests/env)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.env import temporal
from tests.integration.sidecar.conftest import Sidecar

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def frontend(server: temporal.TemporalServer, service: str) -> dict[str, object]:
    grpc = {"host": server.host, "port": server.port, "service": service}
    timing = {"intervalSeconds": 0.5, "timeoutSeconds": 0.4, "failureThreshold": 1}
    return {"name": "temporal", "type": "grpc", **timing, "grpc": grpc}


async def test_temporal_workflow_service_is_serving(
    make_sidecar: MakeSidecar, temporal_server: temporal.TemporalServer
) -> None:
    # What the README's Temporal example configures: the frontend's WorkflowService.
    sidecar = await make_sidecar(frontend(temporal_server, temporal.SERVICE))
    await sidecar.wait_status("temporal", "healthy", timeout=15)
    details = sidecar.component("temporal").details
    assert details == {
        "status": "SERVING",
        "service": temporal.SERVICE,
        "target": temporal_server.frontend,
    }


async def test_temporal_unknown_service_is_service_unknown(
    make_sidecar: MakeSidecar, temporal_server: temporal.TemporalServer
) -> None:
    # A typo in the service name must not pass for a healthy frontend.
    service = "temporal.api.workflowservice.v1.WorkflowServices"
    sidecar = await make_sidecar(frontend(temporal_server, service))
    await sidecar.wait_status("temporal", "unhealthy", timeout=15)
    assert sidecar.component("temporal").reason == "service_unknown"

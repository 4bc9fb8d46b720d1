"""The grpc check against a real grpcio server with the standard health servicer (tests/env)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.env import common, grpc_health
from tests.integration.sidecar.conftest import (
    Served,
    Sidecar,
    assert_no_secret,
    outage_then_recovery,
)

MakeSidecar = Callable[..., Awaitable[Sidecar]]


FAST = {"intervalSeconds": 0.5, "timeoutSeconds": 0.4, "failureThreshold": 1}


def health(server: grpc_health.GrpcServer, **block: object) -> dict[str, object]:
    grpc = {"host": server.host, "port": server.port, **block}
    return {"name": "api", "type": "grpc", **FAST, "grpc": grpc}


async def test_grpc_whole_server_serving(
    make_sidecar: MakeSidecar, grpc_server: grpc_health.GrpcServer
) -> None:
    sidecar = await make_sidecar(health(grpc_server))
    await sidecar.wait_status("api", "healthy", timeout=15)
    details = sidecar.component("api").details
    assert details["status"] == "SERVING"
    assert details["target"] == grpc_server.target


@pytest.mark.parametrize(
    ("service", "reason", "status"),
    [
        ("app.Down", "not_serving", "NOT_SERVING"),
        ("app.Unknown", "serving_unknown", "UNKNOWN"),
        ("app.NotRegistered", "service_unknown", "NOT_FOUND"),
    ],
)
async def test_grpc_each_answer_has_its_reason(
    make_sidecar: MakeSidecar,
    grpc_server: grpc_health.GrpcServer,
    service: str,
    reason: str,
    status: str,
) -> None:
    sidecar = await make_sidecar(health(grpc_server, service=service))
    await sidecar.wait_status("api", "unhealthy", timeout=15)
    comp = sidecar.component("api")
    assert comp.reason == reason
    assert status in comp.message


async def test_grpc_named_service_serving(
    make_sidecar: MakeSidecar, grpc_server: grpc_health.GrpcServer
) -> None:
    sidecar = await make_sidecar(health(grpc_server, service="app.Serving"))
    await sidecar.wait_status("api", "healthy", timeout=15)
    assert sidecar.component("api").details["service"] == "app.Serving"


async def test_grpc_tls_with_ca_and_server_name(
    make_sidecar: MakeSidecar,
    grpc_tls_server: grpc_health.GrpcServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_GRPC_TOKEN", "Bearer grpc-canary-Tok-61d0")
    block = {"tls": True, "caFile": str(grpc_tls_server.ca),
             "serverName": grpc_health.SERVER_NAME,
             "metadata": [{"name": "authorization", "valueFromEnv": "HG_GRPC_TOKEN"}]}  # fmt: skip
    sidecar = await make_sidecar(health(grpc_tls_server, **block))
    await sidecar.wait_status("api", "healthy", timeout=15)
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret("grpc-canary-Tok-61d0", body, metrics, capsys.readouterr().err)


async def test_grpc_tls_with_an_untrusted_certificate_is_tls(
    make_sidecar: MakeSidecar, grpc_tls_server: grpc_health.GrpcServer
) -> None:
    # No caFile: the system CAs do not know the test CA.
    block = {"tls": True, "serverName": grpc_health.SERVER_NAME}
    sidecar = await make_sidecar(health(grpc_tls_server, **block))
    await sidecar.wait_status("api", "unhealthy", timeout=15)
    assert sidecar.component("api").reason == "tls"


async def test_grpc_plaintext_to_a_tls_server_fails(
    make_sidecar: MakeSidecar, grpc_tls_server: grpc_health.GrpcServer
) -> None:
    sidecar = await make_sidecar(health(grpc_tls_server))
    await sidecar.wait_status("api", "unhealthy", timeout=15)
    assert sidecar.component("api").reason in ("connect", "timeout")


async def test_grpc_closed_port_is_connect(make_sidecar: MakeSidecar) -> None:
    grpc = {"host": "127.0.0.1", "port": common.free_port()}
    dep = {"name": "api", "type": "grpc", **FAST, "grpc": grpc}
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("api", "unhealthy", timeout=15)
    assert sidecar.component("api").reason == "connect"


def test_grpc_core_logs_stay_out_of_the_sidecar_log(
    serve: Callable[..., Served], grpc_tls_server: grpc_health.GrpcServer, tmp_path: Path
) -> None:
    # A failed handshake made gRPC's C core print "I1130 ... Handshake failed" on stderr,
    # outside the sidecar's log format.
    block = {"tls": True, "serverName": grpc_health.SERVER_NAME}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dependencies": [health(grpc_tls_server, **block)]}))
    served = serve(config)
    served.wait(lambda: '"reason":"tls"' in served.get("/health")[1].replace(" ", ""), timeout=15)
    lines = served.log.read_text().splitlines()
    assert lines
    stray = [line for line in lines if not re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert stray == []


async def test_grpc_server_restart_is_connect_then_recovers(
    make_sidecar: MakeSidecar, make_grpc_server: Callable[[], grpc_health.GrpcServer]
) -> None:
    # The same sidecar throughout: its channel, failed while the server was down (5 s here),
    # must not keep it unhealthy for gRPC's reconnect back-off once the server is back.
    server = make_grpc_server()
    sidecar = await make_sidecar(health(server))
    await outage_then_recovery(sidecar, "api", server, reason="connect", down_checks=10)

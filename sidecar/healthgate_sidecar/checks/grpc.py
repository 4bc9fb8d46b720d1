"""grpc: ``grpc.health.v1.Health/Check``; SERVING is healthy, every other answer a distinct reason.

Driver: grpcio's asyncio API with the stub from grpcio-health-checking (the protocol's own
package). One channel per dependency, dropped after a failure: a channel in TRANSIENT_FAILURE
fails fast for its reconnect back-off (up to two minutes), and a check must see a server that
came back at its next run.

Reasons: NOT_SERVING is ``not_serving``, UNKNOWN is ``serving_unknown``, an unknown service
(NOT_FOUND, or SERVICE_UNKNOWN) is ``service_unknown``; a failed RPC maps its status code
(UNAVAILABLE to connect or tls, UNAUTHENTICATED/PERMISSION_DENIED to auth, DEADLINE_EXCEEDED to
timeout, UNIMPLEMENTED, meaning no health service, to status).
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from healthgate_sidecar import files
from healthgate_sidecar.checks.base import CheckFailure, Details, Prober, Reason, read_secret
from healthgate_sidecar.contract import GrpcParams

_SERVING = health_pb2.HealthCheckResponse.ServingStatus
_STATUS_REASONS: dict[int, Reason] = {
    _SERVING.NOT_SERVING: "not_serving",
    _SERVING.UNKNOWN: "serving_unknown",
    _SERVING.SERVICE_UNKNOWN: "service_unknown",
}
_CODE_REASONS: dict[grpc.StatusCode, Reason] = {
    grpc.StatusCode.NOT_FOUND: "service_unknown",
    grpc.StatusCode.UNAUTHENTICATED: "auth",
    grpc.StatusCode.PERMISSION_DENIED: "auth",
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.UNIMPLEMENTED: "status",
    grpc.StatusCode.UNAVAILABLE: "connect",
}
_TLS_MARKERS = ("ssl", "tls", "handshake", "certificate")


def _metadata(params: GrpcParams) -> tuple[tuple[str, str], ...]:
    return tuple(
        (entry.name, read_secret(value=entry.value, from_env=entry.value_from_env,
                                 file=entry.value_file) or "")
        for entry in params.metadata
    )  # fmt: skip


def _channel(params: GrpcParams) -> grpc.aio.Channel:
    target = f"{params.host}:{params.port}"
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 0)]  # retrying is the engine's job
    if not params.tls:
        return grpc.aio.insecure_channel(target, options=options)
    roots = None
    if params.ca_file is not None:
        try:
            roots = files.read_regular(params.ca_file, limit=files.CONFIG_LIMIT)
        except files.FileError as exc:
            raise CheckFailure("tls", str(exc)) from None
    if params.server_name is not None:
        options.append(("grpc.ssl_target_name_override", params.server_name))
        options.append(("grpc.default_authority", params.server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.aio.secure_channel(target, credentials, options=options)


def _rpc_failure(exc: grpc.aio.AioRpcError) -> CheckFailure:
    code = exc.code()
    text = f"{code.name}: {exc.details() or ''}".rstrip(": ")
    reason = _CODE_REASONS.get(code, "error")
    if code is grpc.StatusCode.UNAVAILABLE and any(m in text.lower() for m in _TLS_MARKERS):
        reason = "tls"
    return CheckFailure(reason, text)


def create(params: GrpcParams, *, timeout: float) -> Prober:
    metadata = _metadata(params)
    request = health_pb2.HealthCheckRequest(service=params.service)
    target = f"{params.host}:{params.port}"
    channel: grpc.aio.Channel | None = None

    async def check() -> Details:
        nonlocal channel
        if channel is None:
            channel = _channel(params)
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            await close()
            raise _rpc_failure(exc) from None
        except BaseException:
            await close()
            raise
        status = _SERVING.Name(response.status)
        reason = _STATUS_REASONS.get(response.status)
        if response.status != _SERVING.SERVING:
            what = f"service {params.service!r}" if params.service else "the server"
            raise CheckFailure(reason or "serving_unknown", f"{what} is {status}")
        return {"status": status, "service": params.service, "target": target}

    async def close() -> None:
        nonlocal channel
        if channel is not None:
            old, channel = channel, None
            await old.close()

    return Prober(check=check, close=close)

"""grpc: ``grpc.health.v1.Health/Check``; SERVING is healthy, every other answer a distinct reason.

Driver: grpcio's asyncio API with the stub from grpcio-health-checking (the protocol's own
package). One channel per dependency (a ``KeptClient``), dropped after a failure: a channel in
TRANSIENT_FAILURE fails fast for its reconnect back-off (up to two minutes), and a check must see a
server that came back at its next run. The channel has its own subchannel pool: gRPC otherwise
shares connections process-wide by target, and the new channel would inherit the old one's
back-off.

Reasons: NOT_SERVING is ``not_serving``, UNKNOWN is ``serving_unknown``, an unknown service
(NOT_FOUND, or SERVICE_UNKNOWN) is ``service_unknown``; a failed RPC maps its status code
(UNAVAILABLE to connect or tls, UNAUTHENTICATED/PERMISSION_DENIED to auth, DEADLINE_EXCEEDED to
timeout, UNIMPLEMENTED, meaning no health service, to status).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from healthgate_sidecar import files
from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    KeptClient,
    Reason,
    read_secret,
)
from healthgate_sidecar.params import Field, Model, Secret, env_field, field_validator, file_field

if TYPE_CHECKING:
    import grpc
    import grpc.aio

_TLS_MARKERS = ("ssl", "tls", "handshake", "certificate")


class GrpcMetadata(Model):
    """One request metadata entry (a gRPC header); its value inline, from env or from a file."""

    secret_fields = (Secret("value", required=True),)

    name: str = Field(
        pattern=r"^[a-z0-9_.-]+$",
        max_length=128,
        description="Metadata key, lowercase (e.g. authorization).",
    )
    value: str | None = Field(None, description="Value, inline.")
    value_from_env: str | None = env_field("Environment variable holding the value.")
    value_file: str | None = file_field("File holding the value.")

    @field_validator("name")
    @classmethod
    def _text_only(cls, name: str) -> str:
        # "-bin" keys carry bytes, which a value from a Secret's text is not.
        if name.endswith("-bin"):
            raise ValueError("binary (-bin) metadata is not supported")
        return name


class GrpcParams(Model):
    """A gRPC server: ``grpc.health.v1.Health/Check``; SERVING is healthy."""

    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    service: str = Field(
        "",
        max_length=256,
        description="Service name to ask about, e.g. temporal.api.workflowservice.v1."
        "WorkflowService; empty asks about the whole server.",
    )
    tls: bool = Field(False, description="Connect with TLS (the server certificate is verified).")
    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of CA certificates trusted for the server."
    )
    server_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="Name the certificate must carry (and the :authority sent); the host "
        "when unset.",
    )
    metadata: list[GrpcMetadata] = Field(
        default_factory=list, max_length=16, description="Metadata sent with the request."
    )


@functools.cache
def _reasons() -> tuple[dict[int, Reason], dict[Any, Reason]]:
    """(serving status -> reason, RPC status code -> reason), built with the driver's enums."""
    import grpc
    from grpc_health.v1 import health_pb2

    serving = health_pb2.HealthCheckResponse.ServingStatus
    by_status: dict[int, Reason] = {
        serving.NOT_SERVING: "not_serving",
        serving.UNKNOWN: "serving_unknown",
        serving.SERVICE_UNKNOWN: "service_unknown",
    }
    by_code: dict[Any, Reason] = {
        grpc.StatusCode.NOT_FOUND: "service_unknown",
        grpc.StatusCode.UNAUTHENTICATED: "auth",
        grpc.StatusCode.PERMISSION_DENIED: "auth",
        grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
        grpc.StatusCode.UNIMPLEMENTED: "status",  # no health service on that server
        grpc.StatusCode.UNAVAILABLE: "connect",
    }
    return by_status, by_code


def _metadata(params: GrpcParams) -> tuple[tuple[str, str], ...]:
    return tuple(
        (entry.name, read_secret(value=entry.value, from_env=entry.value_from_env,
                                 file=entry.value_file) or "")
        for entry in params.metadata
    )  # fmt: skip


def _channel(params: GrpcParams) -> grpc.aio.Channel:
    import grpc
    import grpc.aio

    target = f"{params.host}:{params.port}"
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 0),  # retrying is the engine's job
        # Subchannels (connections) are otherwise shared process-wide by target: a new channel
        # would reuse the failed one, still in its reconnect back-off, and fail for up to 2 min.
        ("grpc.use_local_subchannel_pool", 1),
    ]
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
    reason = _reasons()[1].get(code, "error")
    if reason == "connect" and any(m in text.lower() for m in _TLS_MARKERS):
        reason = "tls"
    return CheckFailure(reason, text)


def create(params: GrpcParams, *, timeout: float) -> Checker:
    # gRPC's C core logs straight to stderr ("I1130 ... Handshake failed ..."), past the
    # sidecar's text/json log format; what it says is in the check's message already.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    # The driver, loaded only when a grpc dependency is configured.
    import grpc.aio
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    serving = health_pb2.HealthCheckResponse.ServingStatus
    status_reasons = _reasons()[0]
    metadata = _metadata(params)
    request = health_pb2.HealthCheckRequest(service=params.service)
    target = f"{params.host}:{params.port}"

    async def open_channel() -> grpc.aio.Channel:
        return _channel(params)  # connects lazily, on the first call

    async def close(channel: grpc.aio.Channel) -> None:
        await channel.close()

    kept = KeptClient(open_channel, close)

    async def check() -> Details:
        try:
            async with kept.using() as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                response = await stub.Check(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise _rpc_failure(exc) from None
        status = serving.Name(response.status)
        if response.status != serving.SERVING:
            what = f"service {params.service!r}" if params.service else "the server"
            reason = status_reasons.get(response.status, "serving_unknown")
            raise CheckFailure(reason, f"{what} is {status}")
        return {"status": status, "service": params.service, "target": target}

    return Checker(check=check, close=kept.drop)


CHECK_TYPE = CheckType(
    name="grpc",
    params=GrpcParams,
    create=create,
    description="Settings of a grpc check.",
)

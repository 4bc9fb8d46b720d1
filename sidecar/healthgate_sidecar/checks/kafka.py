"""kafka: bootstrap, one Metadata request (brokers, cluster id, optionally a topic); aiokafka.

What a producer or consumer does first, on one kept connection (a ``KeptClient``, replaced after
any failure): connect to the first bootstrap server that answers (TLS and SASL as configured: the
broker checks the password at this step), then ask for the cluster's metadata, which lists its
brokers and, when ``topic`` is set, that topic's partitions (``allowAutoTopicCreation`` false, so
asking never creates it). aiokafka's connection is used directly rather than its client, which
would start a background metadata task and hide why a bootstrap failed (a refused password and a
closed port look alike there).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    KeptClient,
    failure_from,
    read_secret,
    ssl_context,
)
from healthgate_sidecar.params import Field, Model, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    from aiokafka.conn import AIOKafkaConnection

UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION
TOPIC_AUTHORIZATION_FAILED = 29
LEADER_NOT_AVAILABLE = 5  # a topic just created, or its leader's broker is down
# host:port, or [IPv6]:port.
HostPort = Annotated[
    str, Field(pattern=r"^([^\s:\[\]/]{1,253}|\[[0-9a-fA-F:.]{2,45}\]):[0-9]{1,5}$")
]


class KafkaSasl(Model):
    """SASL login: PLAIN or SCRAM (over TLS unless the network is trusted)."""

    secret_fields = (Secret("password", required=True),)

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism."
    )
    username: str = Field(min_length=1, max_length=256, description="User to log in as.")
    password_from_env: str | None = env_field("Environment variable holding the password.")
    password_file: str | None = file_field("File holding the password.")


class KafkaParams(TlsMixin):
    """A Kafka cluster: bootstrap, cluster metadata, broker count; optionally a topic."""

    bootstrap_servers: list[HostPort] = Field(
        min_length=1,
        max_length=16,
        description="host:port of brokers to bootstrap from, tried in order until one answers.",
    )
    tls: bool = Field(False, description="Connect with TLS (security protocol SSL or SASL_SSL).")
    sasl: KafkaSasl | None = Field(None, description="Log in with SASL.")
    topic: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9._-]{1,249}$",
        description="Topic that must exist (never created: the request forbids auto-creation).",
    )
    min_brokers: int = Field(
        1, ge=1, le=1000, description="Fewest brokers the cluster metadata must list."
    )


def _split(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return host.strip("[]"), int(port)


def _protocol(params: KafkaParams) -> str:
    if params.sasl is not None:
        return "SASL_SSL" if params.tls else "SASL_PLAINTEXT"
    return "SSL" if params.tls else "PLAINTEXT"


def _failure(exc: Exception) -> CheckFailure:
    import ssl

    from aiokafka import errors  # the driver loads only with a kafka check

    text = str(exc) or exc.__class__.__name__
    auth = (
        errors.SaslAuthenticationFailed,
        errors.UnsupportedSaslMechanismError,
        errors.IllegalSaslStateError,
    )
    if isinstance(exc, auth):
        return CheckFailure("auth", text)
    if isinstance(exc, ssl.SSLError):
        return CheckFailure("tls", text)
    if isinstance(exc, errors.KafkaTimeoutError):
        return CheckFailure("timeout", text)
    found = failure_from(exc)
    if found.reason == "error" and isinstance(exc, errors.KafkaConnectionError):
        return CheckFailure("connect", text)
    return found


def _topic_details(response: Any, topic: str) -> Details:
    for entry in response.topics:
        # (error_code, name, is_internal, partitions, ...) from v1 on; Kafka 4 speaks v1+.
        error_code, name, partitions = entry[0], entry[1], entry[3]
        if name != topic:
            continue
        if error_code == UNKNOWN_TOPIC:
            raise CheckFailure("assertion", f"topic {topic} does not exist")
        if error_code == TOPIC_AUTHORIZATION_FAILED:
            raise CheckFailure("auth", f"not authorized to describe topic {topic}")
        if error_code not in (0, LEADER_NOT_AVAILABLE):
            raise CheckFailure("error", f"topic {topic}: broker error code {error_code}")
        leaderless = sum(1 for p in partitions if p[2] < 0)
        return {"topic": topic, "partitions": len(partitions), "leaderlessPartitions": leaderless}
    raise CheckFailure("assertion", f"topic {topic} is missing from the metadata")


def _options(params: KafkaParams, timeout: float) -> dict[str, Any]:
    """aiokafka's connection settings; the password is read (and registered) now."""
    sasl = params.sasl
    password = None
    if sasl is not None:
        password = read_secret(value=None, from_env=sasl.password_from_env, file=sasl.password_file)
    tls = ssl_context(ca_file=params.ca_file, verify=params.tls_verify) if params.tls else None
    return {
        "client_id": "healthgate-sidecar",
        # Bounded by the engine's timeout too; this one ends a request the engine abandoned.
        "request_timeout_ms": max(1000, int(timeout * 1000)),
        "security_protocol": _protocol(params),
        "ssl_context": tls,
        "sasl_mechanism": sasl.mechanism if sasl else "PLAIN",
        "sasl_plain_username": sasl.username if sasl else None,
        "sasl_plain_password": password,
    }


async def _connect(servers: list[tuple[str, int]], options: dict[str, Any]) -> AIOKafkaConnection:
    """A connection to the first server that answers, as a client's bootstrap does."""
    from aiokafka.conn import create_conn

    failure: CheckFailure | None = None
    for host, port in servers:
        try:
            return await create_conn(host, port, **options)
        except Exception as exc:  # every driver error maps to a reason
            found = _failure(exc)
            # A refused login says more than the next server's closed port.
            failure = found if failure is None or failure.reason != "auth" else failure
    assert failure is not None
    raise failure


def create(params: KafkaParams, *, timeout: float) -> Checker:
    options = _options(params, timeout)
    servers = [_split(s) for s in params.bootstrap_servers]
    topics = [params.topic] if params.topic else []

    async def connect() -> AIOKafkaConnection:
        return await _connect(servers, options)

    async def close(conn: AIOKafkaConnection) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    kept = KeptClient(connect, close, usable=lambda conn: conn.connected())

    async def check() -> Details:
        from aiokafka.protocol.metadata import MetadataRequest

        request = MetadataRequest(topics, allow_auto_topic_creation=False)
        try:
            async with kept.using() as conn:
                response = await conn.send(request)
                target = f"{conn.host}:{conn.port}"
        except CheckFailure:
            raise
        except Exception as exc:  # every driver error maps to a reason
            raise _failure(exc) from None
        return _details(params, response, target)

    return Checker(check=check, close=kept.drop)


def _details(params: KafkaParams, response: Any, target: str) -> Details:
    brokers = len(response.brokers)
    if brokers < params.min_brokers:
        raise CheckFailure("assertion", f"{brokers} brokers, fewer than {params.min_brokers}")
    details: Details = {
        "brokers": brokers,
        "clusterId": str(getattr(response, "cluster_id", "") or ""),
        "controllerId": int(getattr(response, "controller_id", -1)),
        "target": target,
    }
    if params.topic is not None:
        details.update(_topic_details(response, params.topic))
    return details


CHECK_TYPE = CheckType(
    name="kafka", params=KafkaParams, create=create, description="Settings of a kafka check."
)

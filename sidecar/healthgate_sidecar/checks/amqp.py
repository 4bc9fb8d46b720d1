"""amqp: on a kept connection, open a channel (optionally declare a queue passively), close it.

Driver: aiormq, the asyncio AMQP 0-9-1 client that aio-pika is built on (typed, maintained);
aio-pika's robust reconnection would only hide from the check what it is meant to see. The
connection is kept between checks and dropped after any failure; opening and closing a channel
each time proves the broker still answers on it, not merely that a socket is open.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from healthgate_sidecar import redact
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
from healthgate_sidecar.params import Field, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    import ssl

    import aiormq
    from yarl import URL


class AmqpParams(TlsMixin):
    """An AMQP 0-9-1 broker (RabbitMQ): connect, open and close a channel."""

    secret_fields = (Secret("url", required=True),)

    url: str | None = Field(
        None,
        pattern=r"^amqps?://",
        description="amqp:// or amqps:// (TLS) URL with the vhost as its path; may hold a "
        "password, redacted in output. Query options are ignored (TLS comes from caFile and "
        "tlsVerify).",
    )
    url_from_env: str | None = env_field("Environment variable holding the URL.")
    url_file: str | None = file_field("File holding the URL.")
    queue: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Queue that must exist (declared passively: never created).",
    )


@functools.cache
def _auth_errors() -> tuple[type[Exception], ...]:
    import aiormq.exceptions

    return (
        aiormq.exceptions.AuthenticationError,
        aiormq.exceptions.ProbableAuthenticationError,
        aiormq.exceptions.ConnectionNotAllowed,  # no access to the vhost
        aiormq.exceptions.ChannelAccessRefused,
    )


def _failure(exc: Exception) -> CheckFailure:
    import aiormq.exceptions

    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, _auth_errors()):
        return CheckFailure("auth", text)
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        return CheckFailure("assertion", text)  # the passively declared queue does not exist
    failure = failure_from(exc)
    if failure.reason == "error" and isinstance(exc, aiormq.exceptions.AMQPConnectionError):
        return CheckFailure("connect", text)
    return failure


def _url(url: str) -> URL:
    # aiormq reads options from the query (cafile, no_verify_ssl, timeout): they would bypass
    # the contract's fields, so they are dropped (the contract's description says so).
    from yarl import URL  # not at import: the config's validator loads every type module

    return URL(url).with_query(None)


def create(params: AmqpParams, *, timeout: float) -> Checker:
    import asyncio

    import aiormq  # the driver, loaded only when an amqp dependency is configured
    import aiormq.exceptions

    raw = read_secret(value=params.url, from_env=params.url_from_env, file=params.url_file)
    assert raw is not None  # one source is required by the contract
    url = _url(raw)
    target = redact.redact_url(str(url))
    tls: ssl.SSLContext | None = None
    if url.scheme == "amqps":
        tls = ssl_context(ca_file=params.ca_file, verify=params.tls_verify)

    async def connect() -> aiormq.Connection:
        conn = aiormq.Connection(url, context=tls, client_properties={
            "connection_name": "healthgate-sidecar"})  # fmt: skip
        await conn.connect()
        return conn

    async def close(conn: aiormq.Connection) -> None:
        # Bounded: after a failure the broker may be the one that no longer answers.
        with contextlib.suppress(aiormq.exceptions.AMQPError, OSError, TimeoutError):
            async with asyncio.timeout(timeout):
                await conn.close()

    kept = KeptClient(connect, close, usable=lambda conn: not conn.is_closed)

    async def check() -> Details:
        try:
            async with kept.using() as conn:
                channel = await conn.channel()
                if params.queue is not None:
                    await channel.queue_declare(params.queue, passive=True)
                await channel.close()
                server = conn.server_properties
        except (aiormq.exceptions.AMQPError, OSError) as exc:
            raise _failure(exc) from None
        return {
            "product": str(server.get("product", "")),
            "version": str(server.get("version", "")),
            "target": target,
        }

    return Checker(check=check, close=kept.drop)


CHECK_TYPE = CheckType(
    name="amqp",
    params=AmqpParams,
    create=create,
    description="Settings of an amqp check.",
)

"""redis: INFO (version, uptime, role, memory) in one round trip; optional SET/GET/DEL."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from healthgate_sidecar import redact
from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    failure_from,
    read_secret,
)
from healthgate_sidecar.params import Field, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    import redis.asyncio
    import redis.exceptions


class RedisParams(TlsMixin):
    """A Redis server: PING-equivalent INFO, optionally a SET/GET/DEL round trip."""

    secret_fields = (Secret("url", required=True), Secret("password"))

    url: str | None = Field(
        None,
        pattern=r"^rediss?://",
        description="redis:// or rediss:// (TLS) URL; may hold a password, redacted in output.",
    )
    url_from_env: str | None = env_field("Environment variable holding the URL.")
    url_file: str | None = file_field("File holding the URL.")
    password_from_env: str | None = env_field(
        "Environment variable holding the password (overrides the URL's)."
    )
    password_file: str | None = file_field("File holding the password (overrides the URL's).")
    write_check: bool = Field(
        False, description="Also SET, GET and DEL a short-lived key (needs write access)."
    )


_AUTH_MARKERS = ("NOAUTH", "WRONGPASS", "NOPERM", "invalid password", "invalid username")


def _client(params: RedisParams, url: str, timeout: float) -> redis.asyncio.Redis:
    # The driver, loaded only when a redis dependency is configured.
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    if not url.startswith(("redis://", "rediss://")):
        raise CheckFailure("error", "the URL must start with redis:// or rediss://")
    password = read_secret(value=None, from_env=params.password_from_env, file=params.password_file)
    kwargs: dict[str, Any] = {}
    if password is not None:
        # redis-py lets the URL's password win over the keyword: take it out of the URL.
        url = _without_password(url)
        kwargs["password"] = password
    if url.startswith("rediss://"):
        kwargs["ssl_ca_certs"] = params.ca_file
        kwargs["ssl_cert_reqs"] = "required" if params.tls_verify else "none"
        kwargs["ssl_check_hostname"] = params.tls_verify
    return redis.asyncio.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # Retrying is the engine's job; a driver retry would overrun the check's timeout.
        retry=Retry(NoBackoff(), 0),
        max_connections=2,
        client_name="healthgate-sidecar",  # visible in CLIENT LIST for whoever runs Redis
        **kwargs,
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def _failure(exc: redis.exceptions.RedisError) -> CheckFailure:
    import redis.exceptions

    text = str(exc)
    if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.NoPermissionError):
        return CheckFailure("auth", text or "authentication failed")
    if any(marker in text for marker in _AUTH_MARKERS):
        return CheckFailure("auth", text)
    if isinstance(exc, redis.exceptions.TimeoutError):
        return CheckFailure("timeout", text or "timed out")
    if isinstance(exc, redis.exceptions.ConnectionError):
        failure = failure_from(exc)
        return failure if failure.reason != "error" else CheckFailure("connect", text)
    return failure_from(exc, reason="error")


async def _write_check(client: redis.asyncio.Redis) -> None:
    key = f"healthgate:check:{secrets.token_hex(8)}"
    token = secrets.token_hex(8)
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(key, token, px=10_000)  # expires even if DEL never arrives
        pipe.get(key)
        pipe.delete(key)
        _, value, _ = await pipe.execute()
    if value not in (token, token.encode()):
        raise CheckFailure("assertion", "the value read back differs from the value written")


def create(params: RedisParams, *, timeout: float) -> Checker:
    import redis.exceptions

    url = read_secret(value=params.url, from_env=params.url_from_env, file=params.url_file)
    assert url is not None  # one source is required by the contract
    client = _client(params, url, timeout)
    target = redact.redact_url(url)

    async def check() -> Details:
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.info("server")
                pipe.info("replication")
                pipe.info("memory")
                server, replication, memory = await pipe.execute()
            if params.write_check:
                await _write_check(client)
        except redis.exceptions.RedisError as exc:
            raise _failure(exc) from None
        return {
            "version": str(server.get("redis_version", "")),
            "uptimeSeconds": int(server.get("uptime_in_seconds", 0)),
            "role": str(replication.get("role", "")),
            "usedMemoryBytes": int(memory.get("used_memory", 0)),
            "target": target,
        }

    async def close() -> None:
        await client.aclose()

    return Checker(check=check, close=close)


CHECK_TYPE = CheckType(
    name="redis", params=RedisParams, create=create, description="Settings of a redis check."
)

"""redis: INFO (version, uptime, role, memory) in one round trip; optional SET/GET/DEL.

Spoken with :mod:`._resp` rather than redis-py, whose import alone costs 6.4 MiB of every such
pod's sidecar (the measurement is in that module's docstring).
"""

from __future__ import annotations

import dataclasses
import secrets

from healthgate_sidecar import redact
from healthgate_sidecar.checks import _resp
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

CLIENT_NAME = "healthgate-sidecar"  # visible in CLIENT LIST for whoever runs Redis


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


def _address(params: RedisParams, url: str) -> _resp.Address:
    try:
        address = _resp.parse_url(url)
    except ValueError as exc:
        raise CheckFailure("error", f"invalid URL: {exc}") from None
    password = read_secret(value=None, from_env=params.password_from_env, file=params.password_file)
    if password is not None:  # the file or variable wins over the URL's password
        address = dataclasses.replace(address, password=password)
    if address.password:
        redact.register_secret(address.password)
    return address


def _failure(exc: Exception) -> CheckFailure:
    import asyncio  # not at import: the config's validator loads every type module

    text = str(exc)
    if isinstance(exc, _resp.ReplyError):
        auth = any(marker in text for marker in _AUTH_MARKERS)
        return CheckFailure("auth" if auth else "error", text)
    if isinstance(exc, asyncio.IncompleteReadError):
        return CheckFailure("connect", "connection closed by the server")
    if isinstance(exc, OSError):  # ssl's errors too (a certificate error is also a ValueError)
        failure = failure_from(exc)
        return failure if failure.reason != "error" else CheckFailure("connect", text)
    if isinstance(exc, _resp.ProtocolError | ValueError | asyncio.LimitOverrunError):
        return CheckFailure("error", f"not a Redis reply: {text}")
    return failure_from(exc, reason="error")


async def _write_check(conn: _resp.Connection) -> None:
    key = f"healthgate:check:{secrets.token_hex(8)}"
    token = secrets.token_hex(8)
    # SET with an expiry first: the key goes away even if DEL never arrives.
    _, value, _ = await conn.call(("SET", key, token, "PX", 10_000), ("GET", key), ("DEL", key))
    if value != token.encode():
        raise CheckFailure("assertion", "the value read back differs from the value written")


def create(params: RedisParams, *, timeout: float) -> Checker:
    url = read_secret(value=params.url, from_env=params.url_from_env, file=params.url_file)
    assert url is not None  # one source is required by the contract
    address = _address(params, url)
    tls = ssl_context(ca_file=params.ca_file, verify=params.tls_verify) if address.tls else None
    target = redact.redact_url(url)

    async def connect() -> _resp.Connection:
        return await _resp.Connection.open(address, tls=tls, name=CLIENT_NAME)

    async def close(conn: _resp.Connection) -> None:
        conn.close()

    kept = KeptClient(connect, close, usable=lambda conn: conn.usable())

    async def check() -> Details:
        try:
            async with kept.using() as conn:
                server, replication, memory = map(
                    _resp.info,
                    await conn.call(
                        ("INFO", "server"), ("INFO", "replication"), ("INFO", "memory")
                    ),
                )
                if params.write_check:
                    await _write_check(conn)
            return {
                "version": server.get("redis_version", ""),
                "uptimeSeconds": int(server.get("uptime_in_seconds") or 0),
                "role": replication.get("role", ""),
                "usedMemoryBytes": int(memory.get("used_memory") or 0),
                "target": target,
            }
        except CheckFailure:
            raise
        except Exception as exc:
            raise _failure(exc) from None

    return Checker(check=check, close=kept.drop)


CHECK_TYPE = CheckType(
    name="redis", params=RedisParams, create=create, description="Settings of a redis check."
)

"""postgres: ``SELECT 1`` on one kept connection, reopened after any failure; server version."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    KeptClient,
    failure_from,
    read_secret,
)
from healthgate_sidecar.params import Field, Model, Secret, env_field, file_field

if TYPE_CHECKING:
    import psycopg


class PostgresParams(Model):
    """A PostgreSQL server: runs ``SELECT 1`` on a kept connection."""

    secret_fields = (Secret("dsn", required=True),)

    dsn: str | None = Field(
        None,
        min_length=1,
        description="libpq connection string or postgresql:// URL; redacted in output.",
    )
    dsn_from_env: str | None = env_field("Environment variable holding the DSN.")
    dsn_file: str | None = file_field("File holding the DSN.")


# SQLSTATE class 28: invalid authorization specification (wrong password, no such role).
_AUTH_STATES = ("28000", "28P01")
_AUTH_TEXT = ("password authentication failed", "no password supplied")


def _failure(exc: psycopg.Error) -> CheckFailure:
    import psycopg

    text = str(exc)
    if exc.sqlstate in _AUTH_STATES or any(t in text for t in _AUTH_TEXT):
        return CheckFailure("auth", text)
    if "could not translate host name" in text or "Name or service not known" in text:
        return CheckFailure("dns", text)
    if isinstance(exc, psycopg.OperationalError):
        failure = failure_from(exc)
        return failure if failure.reason != "error" else CheckFailure("connect", text)
    return failure_from(exc, reason="error")


def _version(number: int) -> str:
    # server_version is e.g. 150004 for 15.4 (and 90624 for 9.6.24).
    major = number // 10000
    return f"{major}.{number % 100}" if major >= 10 else f"{major}.{number // 100 % 100}"


def create(params: PostgresParams, *, timeout: float) -> Checker:
    import psycopg  # the driver, loaded only when a postgres dependency is configured

    dsn = read_secret(value=params.dsn, from_env=params.dsn_from_env, file=params.dsn_file)
    assert dsn is not None  # one source is required by the contract

    async def connect() -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, connect_timeout=max(1, math.ceil(timeout))
        )

    async def close(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        with contextlib.suppress(psycopg.Error):
            await conn.close()

    kept = KeptClient(connect, close, usable=lambda conn: not conn.closed)

    async def check() -> Details:
        try:
            async with kept.using() as conn:
                cursor = await conn.execute("SELECT 1")
                row = await cursor.fetchone()
                info = conn.info
        except psycopg.Error as exc:
            raise _failure(exc) from None
        if row != (1,):
            raise CheckFailure("assertion", "SELECT 1 did not return 1")
        return {
            "version": _version(info.server_version),
            "target": f"{info.host}:{info.port}/{info.dbname}",
        }

    return Checker(check=check, close=kept.drop)


CHECK_TYPE = CheckType(
    name="postgres",
    params=PostgresParams,
    create=create,
    description="Settings of a postgres check.",
)

"""mysql: ``SELECT 1`` on one kept connection (MySQL or MariaDB), reopened after any failure.

Driver: asyncmy, an asyncio MySQL/MariaDB client (typed, maintained), not a pool: one
connection per dependency is all a check needs.
"""

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
    ssl_context,
)
from healthgate_sidecar.params import Field, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    import ssl

    import asyncmy
    import asyncmy.errors


class MysqlParams(TlsMixin):
    """A MySQL or MariaDB server: ``SELECT 1`` on a kept connection; server version."""

    secret_fields = (Secret("password"),)

    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(3306, ge=1, le=65535, description="TCP port.")
    username: str = Field(min_length=1, max_length=80, description="User to authenticate as.")
    password_from_env: str | None = env_field("Environment variable holding the password.")
    password_file: str | None = file_field("File holding the password.")
    database: str | None = Field(
        None, min_length=1, max_length=64, description="Database to open; none when unset."
    )
    tls: bool = Field(False, description="Require TLS (verified unless tlsVerify is false).")


# ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
# and MySQL 8's expired-password and locked-account errors.
_AUTH_ERRORS = frozenset({1044, 1045, 1698, 1862, 3118})
_CONNECT_ERRORS = frozenset({2002, 2003, 2006, 2013})  # cannot connect, gone away, lost


def _failure(exc: asyncmy.errors.Error) -> CheckFailure:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code in _AUTH_ERRORS:
        return CheckFailure("auth", text)
    if code in _CONNECT_ERRORS:
        failure = failure_from(exc)  # the wrapped OSError says dns, connect or timeout
        return failure if failure.reason != "error" else CheckFailure("connect", text)
    return CheckFailure("error", f"{code}: {text}" if code else text)


def _version(raw: str) -> str:
    # MariaDB prefixes "5.5.5-" for old replication clients: 5.5.5-10.11.6-MariaDB-0+deb12u1.
    return raw.removeprefix("5.5.5-")


def create(params: MysqlParams, *, timeout: float) -> Checker:
    import asyncmy  # the driver, loaded only when a mysql dependency is configured
    import asyncmy.errors

    password = read_secret(value=None, from_env=params.password_from_env, file=params.password_file)
    tls: ssl.SSLContext | None = None
    if params.tls:
        tls = ssl_context(ca_file=params.ca_file, verify=params.tls_verify)

    async def connect() -> asyncmy.Connection:
        return await asyncmy.connect(
            host=params.host,
            port=params.port,
            user=params.username,
            password=password or "",
            database=params.database,
            connect_timeout=max(1, math.ceil(timeout)),
            ssl=tls,
            autocommit=True,
        )

    async def close(conn: asyncmy.Connection) -> None:
        with contextlib.suppress(asyncmy.errors.Error, OSError):
            conn.close()  # no QUIT round trip: the server may be the one that is broken

    kept = KeptClient(connect, close)

    async def check() -> Details:
        try:
            async with kept.using() as conn:
                async with conn.cursor() as cursor:
                    await cursor.execute("SELECT 1")
                    row = await cursor.fetchone()
                version = _version(conn.get_server_info())
        except asyncmy.errors.Error as exc:
            raise _failure(exc) from None
        if row is None or row[0] != 1:
            raise CheckFailure("assertion", "SELECT 1 did not return 1")
        database = f"/{params.database}" if params.database else ""
        return {"version": version, "target": f"{params.host}:{params.port}{database}"}

    return Checker(check=check, close=kept.drop)


CHECK_TYPE = CheckType(
    name="mysql",
    params=MysqlParams,
    create=create,
    description="Settings of a mysql check.",
)

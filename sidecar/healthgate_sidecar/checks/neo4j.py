"""neo4j: ``RETURN 1`` in an auto-commit session (no driver retries); version and edition.

The driver builds lookup tables when imported that cost ~17 MiB of RSS and that a health check
never reads: every day count of the years 1-9999 (``neo4j.time``: 120,000 (year, month) keys)
and every 16-bit integer packed and unpacked (``neo4j._codec.packstream``). No narrower import
skips them (the package's ``__init__`` imports the whole driver), so :func:`_drop_tables`
replaces them, right after the import, with lookups that compute the same value on demand, and
hands the freed memory back (``bench.sidecar_memory``: one neo4j dependency 69.6 -> ~49 MiB).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from healthgate_sidecar import optional
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
    import neo4j


class Neo4jParams(TlsMixin):
    """A Neo4j server: runs ``RETURN 1`` in a session."""

    secret_fields = (Secret("password", required=True),)

    uri: str = Field(
        pattern=r"^(neo4j|bolt)(\+s|\+ssc)?://",
        description="Bolt URI: neo4j://, bolt://, with +s or +ssc for TLS.",
    )
    username: str = Field("neo4j", min_length=1, description="User to authenticate as.")
    password_from_env: str | None = env_field("Environment variable holding the password.")
    password_file: str | None = file_field("File holding the password.")
    database: str | None = Field(
        None, min_length=1, description="Database to open; the server's default when unset."
    )


def _driver(params: Neo4jParams, password: str, timeout: float) -> neo4j.AsyncDriver:
    import neo4j  # loaded by create(), without its extras

    uri = params.uri
    kwargs: dict[str, Any] = {}
    if params.ca_file is not None or not params.tls_verify:
        # The driver refuses trust settings with +s/+ssc schemes: spell TLS out instead.
        scheme, rest = uri.split("://", 1)
        uri = f"{scheme.split('+', 1)[0]}://{rest}"
        kwargs["encrypted"] = True
        kwargs["trusted_certificates"] = (
            neo4j.TrustAll() if not params.tls_verify else neo4j.TrustCustomCAs(params.ca_file)  # type: ignore[arg-type]
        )
    return neo4j.AsyncGraphDatabase.driver(
        uri,
        auth=(params.username, password),
        connection_timeout=timeout,
        connection_acquisition_timeout=timeout,
        max_connection_pool_size=2,
        **kwargs,
    )


class _Computed:
    """A read-only table whose entries are computed when looked up, as the table held them."""

    def __init__(
        self, compute: Callable[[Any], Any], valid: Callable[[Any], bool], missing: type[Exception]
    ) -> None:
        self._compute, self._valid, self._missing = compute, valid, missing

    def __getitem__(self, key: Any) -> Any:
        if not self._valid(key):
            raise self._missing(key)
        return self._compute(key)


def _drop_tables() -> None:
    """Swap the driver's import-time tables for :class:`_Computed` ones (see the docstring).

    Every use in the driver is a ``table[key]`` lookup. A driver version without one of these
    tables, or with another shape, keeps its own (a test fails then, to look again).
    """
    import neo4j.time as times
    from neo4j._codec.packstream import v1, v2

    def year(key: Any) -> bool:
        return isinstance(key, int) and times.MIN_YEAR <= key <= times.MAX_YEAR

    def month(key: Any) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and year(key[0]) and 1 <= key[1] <= 12

    def uint16(key: Any) -> bool:
        return isinstance(key, int) and 0 <= key < 0x10000

    def packed16(key: Any) -> bool:
        return isinstance(key, bytes) and len(key) == 2

    replacements = [
        (times, "_IS_LEAP_YEAR", dict, _Computed(times._is_leap_year, year, KeyError)),
        (times, "_DAYS_IN_YEAR", dict, _Computed(times._days_in_year, year, KeyError)),
        (times, "_DAYS_IN_MONTH", dict,
         _Computed(lambda k: times._days_in_month(*k), month, KeyError)),  # type: ignore[no-untyped-call]
        *((module, "PACKED_UINT_16", list,
           _Computed(struct.Struct(">H").pack, uint16, IndexError)) for module in (v1, v2)),
        *((module, "UNPACKED_UINT_16", dict,
           _Computed(lambda k: struct.unpack(">H", k)[0], packed16, KeyError))
          for module in (v1, v2)),
    ]  # fmt: skip
    dropped = False
    for module, name, kind, computed in replacements:
        if isinstance(getattr(module, name, None), kind):
            setattr(module, name, computed)
            dropped = True
    if dropped:
        _give_back()


def _give_back() -> None:
    """Return the freed tables' heap pages now: glibc keeps ~5 MiB of them otherwise."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator decides
        return
    trim(0)


def _failure(exc: Exception) -> CheckFailure:
    import neo4j.exceptions

    if isinstance(exc, neo4j.exceptions.AuthError):
        return CheckFailure("auth", "authentication failed")
    if isinstance(exc, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
        failure = failure_from(exc)
        return failure if failure.reason != "error" else CheckFailure("connect", str(exc))
    if isinstance(exc, neo4j.exceptions.Neo4jError):
        return CheckFailure("error", f"{exc.code}: {exc.message}")
    return failure_from(exc)


async def _components(session: neo4j.AsyncSession) -> Details:
    result = await session.run("CALL dbms.components() YIELD versions, edition")
    record = await result.single()
    if record is None:
        return {}
    return {"version": str(record["versions"][0]), "edition": str(record["edition"])}


def create(params: Neo4jParams, *, timeout: float) -> Checker:
    # The driver, loaded only when a neo4j dependency is configured. numpy, pandas, pyarrow: for
    # Result.to_df(), never called here (numpy alone is +47 MiB RSS).
    with optional.without("numpy", "pandas", "pyarrow"):
        import neo4j.exceptions
    _drop_tables()

    password = read_secret(value=None, from_env=params.password_from_env, file=params.password_file)
    assert password is not None  # one source is required by the contract
    driver = _driver(params, password, timeout)
    server: Details = {}  # version and edition do not change while a driver lives

    async def check() -> Details:
        try:
            async with driver.session(database=params.database) as session:
                result = await session.run("RETURN 1 AS ok")
                record = await result.single()
                if not server:
                    server.update(await _components(session))
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError) as exc:
            raise _failure(exc) from None
        if record is None or record["ok"] != 1:
            raise CheckFailure("assertion", "RETURN 1 did not return 1")
        return {**server, "target": params.uri}

    async def close() -> None:
        await driver.close()

    return Checker(check=check, close=close)


CHECK_TYPE = CheckType(
    name="neo4j", params=Neo4jParams, create=create, description="Settings of a neo4j check."
)

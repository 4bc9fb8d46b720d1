"""What every check shares: the type declaration, the failure type, the checker shape, helpers.

A check is a coroutine that returns details (a small flat dict) on success and raises
:class:`CheckFailure` on failure. Checks never handle timing, retries, metrics or logging: the
engine does. A :class:`Checker` pairs that coroutine with a ``close`` for the client it reuses. A
:class:`CheckType` declares a type: its name, its parameters model, its factory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar, get_args

from healthgate_sidecar import files, records, redact
from healthgate_sidecar.params import BaseModel, Model

if TYPE_CHECKING:
    import ssl

# not_serving, serving_unknown, service_unknown: the grpc health protocol's own failures.
Reason = Literal[
    "ok",
    "timeout",
    "dns",
    "connect",
    "tls",
    "auth",
    "status",
    "assertion",
    "error",
    "overloaded",
    "not_serving",
    "serving_unknown",
    "service_unknown",
    "stale",  # no check result, not a check's: the engine's verdict on a check that stopped
]
REASONS: tuple[Reason, ...] = get_args(Reason)
DetailValue = str | int | float | bool | None
Details = dict[str, DetailValue]


class CheckFailure(Exception):
    """A failed check: ``reason`` is one of :data:`REASONS`, ``message`` is for humans."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Checker:
    """A dependency's check coroutine plus the cleanup of the client it keeps between checks."""

    check: Callable[[], Awaitable[Details]]
    close: Callable[[], Awaitable[None]] = field(default=_nothing)


C = TypeVar("C")


class KeptClient(Generic[C]):
    """One client kept between checks, and dropped after any failure of a check that used it.

    A connection that failed must not be reused by the next check, and one cancelled mid-query
    (the check's timeout) is in an unknown protocol state: :meth:`using` drops it on any
    exception, then lets the exception through for the type to map to a reason. One that
    ``usable`` says was closed under us (the server hung up between checks) is closed too,
    to release what is left of it, and replaced. What ``connect`` does is the type's own: kafka
    falls through its bootstrap servers there, grpc opens a channel with its own connections.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        close: Callable[[C], Awaitable[None]],
        usable: Callable[[C], bool] = lambda _client: True,
    ) -> None:
        self._connect, self._close, self._usable = connect, close, usable
        self._client: C | None = None

    @asynccontextmanager
    async def using(self) -> AsyncIterator[C]:
        try:
            if self._client is not None and not self._usable(self._client):
                await self.drop()
            if self._client is None:
                self._client = await self._connect()
            yield self._client
        except BaseException:
            await self.drop()
            raise

    async def drop(self) -> None:
        """Close the kept client, if any (the ``close`` of the type's :class:`Checker`)."""
        if self._client is not None:
            old, self._client = self._client, None
            await self._close(old)


P = TypeVar("P", bound=Model)
P_contra = TypeVar("P_contra", bound=Model, contravariant=True)


class Factory(Protocol[P_contra]):
    """Builds a dependency's checker (and its client) from its parameters block."""

    def __call__(self, params: P_contra, /, *, timeout: float) -> Checker: ...


@dataclass(frozen=True)
class CheckType(Generic[P]):
    """One check type, declared once in its ``checks/<name>.py`` as ``CHECK_TYPE``.

    The contract derives from it the ``type`` value and the dependency's block of the same
    name; the registry, the checker factory; the operator's CRD, the block's Secret references
    (from ``params.secret_fields``).
    """

    name: str
    params: type[P]
    create: Factory[P]
    description: str  # of the dependency's block, e.g. "Settings of a redis check."


def read_secret(*, value: str | None, from_env: str | None, file: str | None) -> str | None:
    """Resolve a secret from its inline value, an environment variable or a file.

    The result is registered with :mod:`redact` so that it is scrubbed from every output.
    Raises ``CheckFailure("error")`` naming only where the secret should have come from.
    """
    secret = value
    if from_env is not None:
        secret = os.environ.get(from_env)
        if not secret:
            raise CheckFailure("error", f"environment variable {from_env} is not set or empty")
    elif file is not None:
        try:  # regular files only, capped: a FIFO or a device here must not stall the loop
            secret = files.read_text(file, limit=files.SECRET_LIMIT).rstrip("\r\n")
        except files.FileError as exc:
            raise CheckFailure("error", str(exc)) from None
    if secret:
        redact.register_secret(secret)
    return secret


def file_sources(params: BaseModel | records.Record) -> list[str]:
    """Every file a check reads its settings from (``xFile``, ``caFile``), nested ones too.

    The engine watches them: when one changes (a rotated Secret), the check's client is rebuilt
    with a fresh read, without a restart. ``params`` is a model or, in a serving sidecar, the
    record made from one.
    """
    found: list[str] = []
    for name, value in params:
        if name.endswith("_file") and isinstance(value, str):
            found.append(value)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel | records.Record):
                found += file_sources(item)
    return found


def ssl_context(*, ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """A client TLS context: system CAs or ``ca_file``; no verification only when asked."""
    import ssl  # not at import: the config's validator loads every type module, and no TLS

    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise CheckFailure("tls", f"cannot load CA file {ca_file}: {exc}") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify(exc: BaseException) -> Reason:
    """The reason for a low-level error, looking through wrapped causes (drivers wrap OSError)."""
    import socket
    import ssl

    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return "tls"
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, TimeoutError):
            return "timeout"
        if isinstance(cause, ConnectionError | OSError):
            return "connect"
    return "error"


def failure_from(exc: BaseException, *, reason: Reason | None = None) -> CheckFailure:
    """Wrap an unexpected driver error; the engine scrubs and truncates the message."""
    text = str(exc) or exc.__class__.__name__
    return CheckFailure(reason or classify(exc), text)

"""tcp: connect (and optionally handshake TLS); details give days until the certificate expires."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    classify,
    ssl_context,
)
from healthgate_sidecar.params import Field, TlsMixin

if TYPE_CHECKING:
    import asyncio
    import ssl


class TcpParams(TlsMixin):
    """A TCP port, optionally with a TLS handshake (reports days until the certificate expires)."""

    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    tls: bool = Field(False, description="Do a TLS handshake after connecting.")
    server_name: str | None = Field(
        None, min_length=1, description="TLS server name (SNI); the host when unset."
    )


def not_after(der: bytes) -> datetime:
    """The ``notAfter`` of an X.509 certificate in DER (the handshake did any verification).

    ``cryptography`` is imported here, not at the top: only a sidecar with a TLS tcp check pays
    for it (the sidecar's memory is multiplied by the size of the fleet).
    """
    from cryptography import x509

    expires: datetime = x509.load_der_x509_certificate(der).not_valid_after_utc
    return expires


def _cert_details(writer: asyncio.StreamWriter) -> Details:
    tls_object: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
    der = tls_object.getpeercert(binary_form=True) if tls_object is not None else None
    if not der:
        return {}
    try:
        expires = not_after(der)
    except ValueError:  # not DER, or not a certificate
        return {"certificate": "unparsable"}
    days = (expires.timestamp() - time.time()) / 86400
    return {"certNotAfter": expires.isoformat(), "certDaysLeft": round(days, 1)}


def create(params: TcpParams, *, timeout: float) -> Checker:
    import asyncio  # not at import: the config's validator loads every type module
    import ssl

    context = ssl_context(ca_file=params.ca_file, verify=params.tls_verify) if params.tls else None
    target = f"{params.host}:{params.port}"

    async def check() -> Details:
        try:
            _, writer = await asyncio.open_connection(
                params.host,
                params.port,
                ssl=context,
                server_hostname=(params.server_name or params.host) if context else None,
            )
        except ssl.SSLError as exc:
            raise CheckFailure("tls", str(exc)) from None
        except OSError as exc:
            raise CheckFailure(classify(exc), str(exc) or exc.__class__.__name__) from None
        try:
            return {"target": target, **_cert_details(writer)}
        finally:
            writer.close()  # not awaiting wait_closed: a peer ignoring close must not stall us

    return Checker(check=check)


CHECK_TYPE = CheckType(
    name="tcp", params=TcpParams, create=create, description="Settings of a tcp check."
)

"""tcp: connect (and optionally handshake TLS); details give days until the certificate expires."""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime

from healthgate_sidecar.checks.base import CheckFailure, Details, Prober, classify, ssl_context
from healthgate_sidecar.contract import TcpParams

_UTC_TIME, _GENERALIZED_TIME, _EXPLICIT_VERSION = 0x17, 0x18, 0xA0


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    return tag, pos, pos + length


def not_after(der: bytes) -> datetime:
    """The ``notAfter`` of an X.509 certificate in DER, without a crypto library.

    Only the fixed prefix of TBSCertificate is walked: version, serial, signature, issuer,
    then validity (notBefore, notAfter). Verification, if wanted, was done by the handshake.
    """
    _, cert, _ = _element(der, 0)
    _, pos, _ = _element(der, cert)  # TBSCertificate's content
    tag, _, end = _element(der, pos)
    if tag == _EXPLICIT_VERSION:
        pos = end
    for _ in range(3):  # serialNumber, signature, issuer
        _, _, pos = _element(der, pos)
    _, validity, _ = _element(der, pos)
    _, _, pos = _element(der, validity)  # notBefore
    tag, start, end = _element(der, pos)
    text = der[start:end].decode("ascii").rstrip("Z")
    if tag == _UTC_TIME:  # YYMMDDHHMMSS; RFC 5280: YY >= 50 means 19YY
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError(f"unexpected time tag {tag:#x}")
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _cert_details(writer: asyncio.StreamWriter) -> Details:
    tls_object: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
    der = tls_object.getpeercert(binary_form=True) if tls_object is not None else None
    if not der:
        return {}
    try:
        expires = not_after(der)
    except (ValueError, IndexError):
        return {"certificate": "unparsable"}
    days = (expires.timestamp() - time.time()) / 86400
    return {"certNotAfter": expires.isoformat(), "certDaysLeft": round(days, 1)}


def create(params: TcpParams, *, timeout: float) -> Prober:
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

    return Prober(check=check)

"""A self-signed serving certificate for the webhook, made with ``cryptography``.

Kopf can generate one too, but only with the optional ``certbuilder``/``oscrypto`` packages; we
already depend on ``cryptography``. The certificate is its own CA (the API server trusts it via
the webhook's ``caBundle``), valid for the listening address and the advertised URL's host.
Production installs should pass real files (cert-manager) with --webhook-cert/--webhook-key so
that every replica serves the same certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed(hostnames: Iterable[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for these DNS names / IP addresses."""
    names = [n for n in dict.fromkeys(hostnames) if n and n not in ("0.0.0.0", "::")]
    if not names:
        raise ValueError("a certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(directory: Path, hostnames: Iterable[str]) -> tuple[Path, Path]:
    """Write a fresh pair into ``directory`` (0600 key); return (cert path, key path)."""
    cert_pem, key_pem = self_signed(hostnames)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return cert_path, key_path

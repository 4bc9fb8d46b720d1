"""certs: the webhook's self-signed certificate."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from healthgate_operator import certs


def test_sans_cover_names_and_addresses(tmp_path: Path) -> None:
    cert_path, key_path = certs.write_self_signed(tmp_path, ["127.0.0.1", "hg.ops.svc", "0.0.0.0"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["hg.ops.svc"]
    assert key_path.stat().st_mode & 0o077 == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)  # a usable pair


def test_needs_a_name() -> None:
    with pytest.raises(ValueError, match="host name"):
        certs.self_signed(["0.0.0.0"])

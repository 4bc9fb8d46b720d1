"""Offline parts of the service checks (oidc, kafka, s3): parsing, error mapping, lazy drivers."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from healthgate_sidecar.checks import kafka, oidc, s3
from healthgate_sidecar.checks.base import CheckFailure
from healthgate_sidecar.checks.s3 import S3Params
from tests.env import pki


def _certificate(days: int) -> str:
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    cert, _ = pki.self_signed("signing key", not_after=not_after)
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def test_jwks_details_count_keys_and_take_the_soonest_certificate() -> None:
    jwks = {
        "keys": [
            {"kty": "RSA", "kid": "bare"},
            {"kty": "EC", "kid": "late", "x5c": [_certificate(90)]},
            {"kty": "EC", "kid": "soon", "x5c": [_certificate(10), _certificate(1)]},
            {"kty": "EC", "kid": "junk", "x5c": ["not base64!"]},
        ]
    }
    details = oidc._key_details(jwks)
    assert details["keys"] == 4
    assert 9.9 <= float(str(details["certDaysLeft"])) <= 10.0  # the chain's first, not the CA


def test_jwks_without_certificates_has_no_expiry() -> None:
    assert oidc._key_details({"keys": [{"kty": "RSA"}]}) == {"keys": 1}


@pytest.mark.parametrize("jwks", [{}, {"keys": []}, {"keys": "x"}])
def test_jwks_without_keys_fails(jwks: dict[str, object]) -> None:
    with pytest.raises(CheckFailure) as caught:
        oidc._key_details(jwks)
    assert caught.value.reason == "assertion"


@pytest.mark.parametrize(
    ("status", "body", "reason", "shown"),
    [
        (400, b'{"error": "invalid_client"}', "auth", "invalid_client"),
        (401, b"", "auth", "401"),
        (400, b'{"error": "invalid_scope"}', "status", "invalid_scope"),
        # Only a plain error code is shown: a provider could echo anything in the body.
        (400, b'{"error": "secret: hunter2"}', "status", "no error"),
        (500, b"<html>", "status", "no error"),
    ],
)
def test_token_errors_map_to_bounded_reasons(
    status: int, body: bytes, reason: str, shown: str
) -> None:
    with pytest.raises(CheckFailure) as caught:
        oidc._token_error(status, body)
    assert caught.value.reason == reason
    assert shown in caught.value.message
    assert "hunter2" not in caught.value.message


@pytest.mark.parametrize(
    ("endpoint", "path_style", "url"),
    [
        ("http://minio:9000", True, "http://minio:9000/media"),
        ("https://gw.example/s3/", True, "https://gw.example/s3/media"),
        ("https://s3.eu-west-1.amazonaws.com", False, "https://media.s3.eu-west-1.amazonaws.com/"),
    ],
)
def test_bucket_url(endpoint: str, path_style: bool, url: str) -> None:
    params = S3Params.model_validate(
        {
            "endpoint": endpoint,
            "bucket": "media",
            "pathStyle": path_style,
            "accessKeyId": "AK",
            "secretAccessKeyFromEnv": "S",
        }
    )
    assert s3.bucket_url(params) == url


@pytest.mark.parametrize(
    ("status", "region", "reason", "message"),
    [
        (403, None, "auth", "access to bucket media denied (403)"),
        (404, None, "assertion", "bucket media does not exist"),
        (301, "eu-west-1", "status", "HeadBucket answered 301 (the bucket is in region eu-west-1)"),
        (400, "us-east-1", "status", "HeadBucket answered 400"),
    ],
)
def test_head_bucket_statuses(status: int, region: str | None, reason: str, message: str) -> None:
    params = S3Params.model_validate(
        {
            "endpoint": "http://s3",
            "bucket": "media",
            "accessKeyId": "AK",
            "secretAccessKeyFromEnv": "S",
        }
    )
    failure = s3._status_failure(params, status, region)
    assert (failure.reason, failure.message) == (reason, message)


class _Metadata:
    """The fields of a Metadata response (v1+) that the kafka check reads."""

    def __init__(self, *topics: tuple[int, str, bool, list[tuple[int, int, int]]]) -> None:
        self.topics = list(topics)


def test_kafka_topic_details_count_leaderless_partitions() -> None:
    response = _Metadata((0, "orders", False, [(0, 0, 1), (0, 1, -1), (0, 2, 1)]))
    details = kafka._topic_details(response, "orders")
    assert details == {"topic": "orders", "partitions": 3, "leaderlessPartitions": 1}


@pytest.mark.parametrize(("code", "reason"), [(3, "assertion"), (29, "auth"), (87, "error")])
def test_kafka_topic_errors(code: int, reason: str) -> None:
    with pytest.raises(CheckFailure) as caught:
        kafka._topic_details(_Metadata((code, "orders", False, [])), "orders")
    assert caught.value.reason == reason


def test_kafka_failures_map_to_bounded_reasons() -> None:
    from aiokafka import errors  # noqa: PLC0415 - the test imports the driver on purpose

    assert kafka._failure(errors.SaslAuthenticationFailed("bad")).reason == "auth"
    assert kafka._failure(errors.UnsupportedSaslMechanismError("x")).reason == "auth"
    assert kafka._failure(errors.KafkaConnectionError("gone")).reason == "connect"
    assert kafka._failure(ConnectionRefusedError(111, "refused")).reason == "connect"
    assert kafka._failure(errors.KafkaTimeoutError()).reason == "timeout"


def test_kafka_bootstrap_server_forms() -> None:
    assert kafka._split("broker-0.kafka:9092") == ("broker-0.kafka", 9092)
    assert kafka._split("[::1]:9093") == ("::1", 9093)


def test_service_drivers_load_only_when_used() -> None:
    code = """
import sys
from healthgate_sidecar import cli, server
from healthgate_sidecar.checks import oidc, s3
from healthgate_sidecar.contract import parse_config
print(",".join(m for m in ("aiokafka", "botocore", "cryptography") if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""

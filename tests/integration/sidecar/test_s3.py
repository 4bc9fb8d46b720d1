"""The s3 check against a real S3-compatible server verifying SigV4 (s3s-fs, ``tests/env/s3``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.env import s3
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret, outage_then_recovery

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def bucket(endpoint: str, *, once: bool = False, **block: object) -> dict[str, object]:
    """The dependency; ``once``: unhealthy after one failure (failureThreshold 1)."""
    fields: dict[str, object] = {"endpoint": endpoint, "bucket": s3.BUCKET}
    fields |= {"accessKeyId": s3.ACCESS_KEY, "secretAccessKeyFromEnv": "HG_S3_SECRET", **block}
    extra = {"failureThreshold": 1} if once else {}
    timing = {"intervalSeconds": 0.5, "timeoutSeconds": 0.4}
    return {"name": "media", "type": "s3", **timing, **extra, "s3": fields}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_S3_SECRET", s3.SECRET_KEY)


async def test_s3_healthy_keeps_the_secret_out(
    make_sidecar: MakeSidecar, s3_server: s3.S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    sidecar = await make_sidecar(bucket(s3_server.endpoint))
    await sidecar.wait_status("media", "healthy", timeout=15)
    details = sidecar.component("media").details
    assert details == {
        "bucket": s3.BUCKET,
        "region": "us-east-1",
        "target": f"{s3_server.endpoint}/{s3.BUCKET}",
    }
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(s3.SECRET_KEY, body, metrics, capsys.readouterr().err)


async def test_s3_wrong_secret_key_is_auth(
    make_sidecar: MakeSidecar,
    s3_server: s3.S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("wrong-S3-Secret-8\n")
    block = {"secretAccessKeyFile": str(secret_file), "secretAccessKeyFromEnv": None}
    sidecar = await make_sidecar(bucket(s3_server.endpoint, once=True, **block))
    await sidecar.wait_status("media", "unhealthy", timeout=15)
    comp = sidecar.component("media")
    assert comp.reason == "auth"
    assert "denied (403)" in comp.message
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret("wrong-S3-Secret-8", body, metrics, comp.message, capsys.readouterr().err)


async def test_s3_unknown_access_key_is_auth(
    make_sidecar: MakeSidecar, s3_server: s3.S3Server
) -> None:
    sidecar = await make_sidecar(bucket(s3_server.endpoint, once=True, accessKeyId="NOSUCHKEY"))
    await sidecar.wait_status("media", "unhealthy", timeout=15)
    assert sidecar.component("media").reason == "auth"


async def test_s3_missing_bucket_is_assertion(
    make_sidecar: MakeSidecar, s3_server: s3.S3Server
) -> None:
    sidecar = await make_sidecar(bucket(s3_server.endpoint, once=True, bucket="no-such-bucket"))
    await sidecar.wait_status("media", "unhealthy", timeout=15)
    comp = sidecar.component("media")
    assert comp.reason == "assertion"
    assert comp.message == "bucket no-such-bucket does not exist"


async def test_s3_server_down_is_connect_then_recovers(
    make_sidecar: MakeSidecar, make_s3: Callable[[], s3.S3Server]
) -> None:
    server = make_s3()
    sidecar = await make_sidecar(bucket(server.endpoint, once=True))
    await outage_then_recovery(sidecar, "media", server, reason="connect")

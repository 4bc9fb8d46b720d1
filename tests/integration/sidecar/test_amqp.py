"""The amqp check against a real RabbitMQ node (Debian's rabbitmq-server, started by tests/env)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiormq
import pytest

from tests.env import common, rabbitmq
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def broker(**block: object) -> dict[str, object]:
    return {"name": "queue", "type": "amqp", "intervalSeconds": 1, "timeoutSeconds": 0.9,
            "failureThreshold": 1, "amqp": block}  # fmt: skip


async def test_amqp_healthy_with_product_and_version(
    make_sidecar: MakeSidecar,
    rabbitmq_server: rabbitmq.RabbitMqServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_AMQP_URL", rabbitmq_server.url)
    sidecar = await make_sidecar(broker(urlFromEnv="HG_AMQP_URL"))
    await sidecar.wait_status("queue", "healthy", timeout=15)
    details = sidecar.component("queue").details
    assert details["product"] == "RabbitMQ"
    assert str(details["version"]).startswith("3.")
    assert details["target"] == f"amqp://***@{rabbitmq_server.host}:{rabbitmq_server.port}/"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(rabbitmq.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_amqp_existing_queue_passes_and_missing_queue_fails(
    make_sidecar: MakeSidecar, rabbitmq_server: rabbitmq.RabbitMqServer, tmp_path: Path
) -> None:
    conn = await aiormq.connect(rabbitmq_server.url)
    try:
        channel = await conn.channel()
        await channel.queue_declare("healthgate-jobs", auto_delete=False)
        secret = tmp_path / "url"
        secret.write_text(rabbitmq_server.url + "\n")
        present = broker(urlFile=str(secret), queue="healthgate-jobs")
        missing = {**broker(urlFile=str(secret), queue="no-such-queue"), "name": "missing"}
        sidecar = await make_sidecar(present, missing)
        await sidecar.wait_status("queue", "healthy", timeout=15)
        await sidecar.wait_status("missing", "unhealthy", timeout=15)
        comp = sidecar.component("missing")
        assert comp.reason == "assertion"
        assert "no-such-queue" in comp.message
        # Passive: the check never created the queue it looked for.
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await (await conn.channel()).queue_declare("no-such-queue", passive=True)
        await channel.queue_delete("healthgate-jobs")
    finally:
        await conn.close()


async def test_amqp_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    rabbitmq_server: rabbitmq.RabbitMqServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = rabbitmq_server.url.replace(rabbitmq.PASSWORD, "wrong-Amqp-Pw-90")
    sidecar = await make_sidecar(broker(url=url))
    await sidecar.wait_status("queue", "unhealthy", timeout=15)
    comp = sidecar.component("queue")
    assert comp.reason == "auth"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    err = capsys.readouterr().err
    assert_no_secret("wrong-Amqp-Pw-90", body, metrics, err, comp.message)


async def test_amqp_closed_port_is_connect(make_sidecar: MakeSidecar) -> None:
    url = f"amqp://u:pw-Closed-2@127.0.0.1:{common.free_port()}/"
    sidecar = await make_sidecar(broker(url=url))
    await sidecar.wait_status("queue", "unhealthy", timeout=15)
    comp = sidecar.component("queue")
    assert comp.reason == "connect"
    assert "pw-Closed-2" not in comp.message


async def test_amqp_outage_and_recovery_on_the_kept_connection(
    make_sidecar: MakeSidecar,
    rabbitmq_server: rabbitmq.RabbitMqServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kept connection dies with the broker: the check must report it, then reconnect.
    monkeypatch.setenv("HG_AMQP_URL", rabbitmq_server.url)
    sidecar = await make_sidecar(broker(urlFromEnv="HG_AMQP_URL"))
    await sidecar.wait_status("queue", "healthy", timeout=15)
    rabbitmq_server.stop()
    try:
        await sidecar.wait_status("queue", "unhealthy", timeout=30)
        assert sidecar.component("queue").reason == "connect"
    finally:
        rabbitmq_server.start()  # same ports, node and data: the session's other tests need it
    await sidecar.wait_status("queue", "healthy", timeout=60)

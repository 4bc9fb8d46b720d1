"""The kafka check against a real broker (Apache Kafka 4 in KRaft mode, ``tests/env/kafka``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import pytest

from tests.env import common, kafka
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret, outage_then_recovery

MakeSidecar = Callable[..., Awaitable[Sidecar]]
TOPIC = "orders"


def cluster(block: Mapping[str, object], *, once: bool = False) -> dict[str, object]:
    """The dependency; ``once``: unhealthy after one failure (failureThreshold 1)."""
    extra = {"failureThreshold": 1} if once else {}
    timing = {"intervalSeconds": 1, "timeoutSeconds": 0.9}
    return {"name": "events", "type": "kafka", **timing, **extra, "kafka": dict(block)}


@pytest.fixture(scope="module")
def broker(kafka_server: kafka.KafkaServer) -> kafka.KafkaServer:
    kafka_server.create_topic(TOPIC)
    return kafka_server


async def test_kafka_healthy_with_brokers_and_topic(
    make_sidecar: MakeSidecar, broker: kafka.KafkaServer
) -> None:
    sidecar = await make_sidecar(cluster({"bootstrapServers": [broker.bootstrap], "topic": TOPIC}))
    await sidecar.wait_status("events", "healthy", timeout=20)
    details = sidecar.component("events").details
    assert details["brokers"] == 1
    assert details["clusterId"]
    assert details["partitions"] == 3
    assert details["leaderlessPartitions"] == 0
    assert details["target"] == broker.bootstrap


async def test_kafka_sasl_login_keeps_the_password_out(
    make_sidecar: MakeSidecar,
    broker: kafka.KafkaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_KAFKA_PASSWORD", kafka.PASSWORD)
    sasl = {"username": kafka.USER, "passwordFromEnv": "HG_KAFKA_PASSWORD"}
    sidecar = await make_sidecar(
        cluster({"bootstrapServers": [broker.sasl_bootstrap], "sasl": sasl})
    )
    await sidecar.wait_status("events", "healthy", timeout=20)
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(kafka.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_kafka_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    broker: kafka.KafkaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_KAFKA_BAD", "wrong-Kafka-Pw-3")
    sasl = {"username": kafka.USER, "passwordFromEnv": "HG_KAFKA_BAD"}
    block = {"bootstrapServers": [broker.sasl_bootstrap], "sasl": sasl}
    sidecar = await make_sidecar(cluster(block, once=True))
    await sidecar.wait_status("events", "unhealthy", timeout=20)
    comp = sidecar.component("events")
    assert comp.reason == "auth"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret("wrong-Kafka-Pw-3", body, metrics, comp.message, capsys.readouterr().err)


async def test_kafka_missing_topic_is_assertion(
    make_sidecar: MakeSidecar, broker: kafka.KafkaServer
) -> None:
    block = {"bootstrapServers": [broker.bootstrap], "topic": "no-such-topic"}
    sidecar = await make_sidecar(cluster(block, once=True))
    await sidecar.wait_status("events", "unhealthy", timeout=20)
    comp = sidecar.component("events")
    assert comp.reason == "assertion"
    assert comp.message == "topic no-such-topic does not exist"


async def test_kafka_too_few_brokers_is_assertion(
    make_sidecar: MakeSidecar, broker: kafka.KafkaServer
) -> None:
    block = {"bootstrapServers": [broker.bootstrap], "minBrokers": 3}
    sidecar = await make_sidecar(cluster(block, once=True))
    await sidecar.wait_status("events", "unhealthy", timeout=20)
    assert sidecar.component("events").message == "1 brokers, fewer than 3"


async def test_kafka_bootstrap_falls_through_to_a_live_server(
    make_sidecar: MakeSidecar, broker: kafka.KafkaServer
) -> None:
    closed = f"127.0.0.1:{common.free_port()}"
    sidecar = await make_sidecar(cluster({"bootstrapServers": [closed, broker.bootstrap]}))
    await sidecar.wait_status("events", "healthy", timeout=20)
    assert sidecar.component("events").details["target"] == broker.bootstrap


async def test_kafka_nothing_listening_is_connect(make_sidecar: MakeSidecar) -> None:
    block = {"bootstrapServers": [f"127.0.0.1:{common.free_port()}"]}
    sidecar = await make_sidecar(cluster(block, once=True))
    await sidecar.wait_status("events", "unhealthy", timeout=20)
    assert sidecar.component("events").reason == "connect"


async def test_kafka_broker_restart_is_connect_then_recovers(
    make_sidecar: MakeSidecar, broker: kafka.KafkaServer
) -> None:
    # The session's broker (a second JVM would cost ~30 s and 400 MiB): restarted on the same
    # ports with its data, so the tests after this one find it as it was. The kept connection,
    # broken by the restart, must be replaced by a fresh bootstrap.
    block = {"bootstrapServers": [broker.bootstrap], "topic": TOPIC}
    sidecar = await make_sidecar(cluster(block, once=True))
    await outage_then_recovery(sidecar, "events", broker, reason="connect", timeout=90)

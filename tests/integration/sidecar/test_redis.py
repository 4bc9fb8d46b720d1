"""The redis check against a real redis-server: healthy, wrong password, stopped, frozen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_client

from tests.env import common, redis
from tests.integration.sidecar.conftest import FAST, Sidecar, Tls, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def cache(url: str, **fields: object) -> dict[str, object]:
    return {"name": "cache", "type": "redis", **FAST, "redis": {"url": url}, **fields}


async def test_healthy_with_details(
    make_sidecar: MakeSidecar, redis_server: redis.RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sidecar = await make_sidecar(
        cache(redis_server.url, redis={"url": redis_server.url, "writeCheck": True})
    )
    await sidecar.wait_status("cache", "healthy")
    details = sidecar.component("cache").details
    assert str(details["version"]).startswith("7.")
    assert details["role"] == "master"
    assert isinstance(details["usedMemoryBytes"], int)
    assert details["usedMemoryBytes"] > 0
    assert details["target"] == f"redis://***@{redis_server.host}:{redis_server.port}/0"
    status, body = await sidecar.get("/health")
    assert status == 200
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(redis.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_wrong_password_is_auth(
    make_sidecar: MakeSidecar, redis_server: redis.RedisServer
) -> None:
    url = f"redis://:not-the-password@{redis_server.host}:{redis_server.port}/0"
    sidecar = await make_sidecar(cache(url))
    await sidecar.wait_status("cache", "unhealthy")
    assert sidecar.component("cache").reason == "auth"
    assert "not-the-password" not in sidecar.component("cache").message


async def test_password_from_file_overrides_url_from_env(
    make_sidecar: MakeSidecar,
    redis_server: redis.RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_REDIS_URL", f"redis://:wrong@{redis_server.host}:{redis_server.port}/0")
    (tmp_path / "pw").write_text(redis.PASSWORD + "\n")
    dep = cache("", redis={"urlFromEnv": "HG_REDIS_URL", "passwordFile": str(tmp_path / "pw")})
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("cache", "healthy")
    _, body = await sidecar.get("/health")
    assert_no_secret(redis.PASSWORD, body, capsys.readouterr().err)


async def test_stopped_redis_fails_readiness_in_time_and_recovers(
    make_sidecar: MakeSidecar, make_redis: Callable[[], redis.RedisServer]
) -> None:
    server = make_redis()
    sidecar = await make_sidecar(cache(server.url, failureThreshold=2))
    await sidecar.wait(lambda: sidecar.engine.ready)
    server.stop()
    await sidecar.wait(lambda: not sidecar.engine.ready)  # how fast: bench/e2e_outage.py
    comp = sidecar.component("cache")
    assert comp.consecutive_failures >= 2  # not before failureThreshold
    assert comp.reason == "connect"
    assert (await sidecar.get("/readyz"))[0] == 503
    assert (await sidecar.get("/livez"))[0] == 200
    server.start()
    await sidecar.wait(lambda: sidecar.engine.ready)


async def test_frozen_redis_times_out_while_probes_stay_fast(
    make_sidecar: MakeSidecar, make_redis: Callable[[], redis.RedisServer]
) -> None:
    server = make_redis()
    dep = cache(server.url, intervalSeconds=1.0, timeoutSeconds=0.8, failureThreshold=1)
    sidecar = await make_sidecar(dep)
    await sidecar.wait(lambda: sidecar.engine.ready)
    server.freeze()
    try:
        # Wait until a check is in flight against the frozen server, then probe.
        runner = sidecar.engine.runners["cache"]
        await sidecar.wait(lambda: runner.in_flight_since is not None, timeout=3)
        in_flight = runner.in_flight_since
        for path in ("/readyz", "/livez", "/health", "/metrics"):
            status, _ = await sidecar.get(path)
            # Answered while that same check still hangs: the probe did not wait for it.
            # (Probe latency under load is measured by bench/sidecar_adversarial.py.)
            assert runner.in_flight_since == in_flight, f"{path} waited for the check"
            assert status in (200, 503), path
            if path == "/livez":
                assert status == 200
        await sidecar.wait_status("cache", "unhealthy", timeout=4)
        assert sidecar.component("cache").reason == "timeout"
        assert (await sidecar.get("/livez"))[0] == 200
    finally:
        server.thaw()
    await sidecar.wait_status("cache", "healthy", timeout=5)


async def test_reuses_one_connection(
    make_sidecar: MakeSidecar, make_redis: Callable[[], redis.RedisServer]
) -> None:
    server = make_redis()
    sidecar = await make_sidecar(cache(server.url, intervalSeconds=0.1, timeoutSeconds=0.09))
    comp = sidecar.component("cache")
    await sidecar.wait(lambda: comp.consecutive_successes >= 1)
    client = redis_client.Redis.from_url(server.url)
    try:
        before = int(client.info("stats")["total_connections_received"])
        await sidecar.wait(lambda: comp.consecutive_successes >= 6)
        after = int(client.info("stats")["total_connections_received"])
        clients = client.client_list()
    finally:
        client.close()
    assert after == before  # five more checks, no new connection
    assert len([c for c in clients if c["name"] == "healthgate-sidecar"]) == 1


@pytest.fixture
def tls_redis(tls: Tls, tmp_path: Path) -> Iterator[str]:
    """A redis-server speaking only TLS (rediss://), with the test certificate."""
    port = common.free_port()
    conf = tmp_path / "redis-tls.conf"
    conf.write_text(
        f"bind 127.0.0.1\nport 0\ntls-port {port}\ntls-cert-file {tls.cert}\n"
        f"tls-key-file {tls.key}\ntls-auth-clients no\nrequirepass {redis.PASSWORD}\n"
        f'dir {tmp_path}\nsave ""\nappendonly no\ndaemonize no\nlogfile ""\n'
    )
    proc = common.spawn("redis-tls", [redis.ensure_installed(), conf], log_dir=tmp_path)
    try:
        common.wait_until("redis TLS", lambda: common.port_open("127.0.0.1", port), timeout=15,
                          proc=proc)  # fmt: skip
        yield f"rediss://:{redis.PASSWORD}@127.0.0.1:{port}/0"
    finally:
        proc.stop()


async def test_rediss_with_ca_file(make_sidecar: MakeSidecar, tls_redis: str, tls: Tls) -> None:
    sidecar = await make_sidecar(cache("", redis={"url": tls_redis, "caFile": str(tls.cert)}))
    await sidecar.wait_status("cache", "healthy")
    assert str(sidecar.component("cache").details["target"]).startswith("rediss://***@")


async def test_rediss_untrusted_is_tls(make_sidecar: MakeSidecar, tls_redis: str) -> None:
    sidecar = await make_sidecar(cache(tls_redis))
    await sidecar.wait_status("cache", "unhealthy")
    comp = sidecar.component("cache")
    assert comp.reason == "tls"
    assert redis.PASSWORD not in comp.message


async def test_acl_user_and_database_from_the_url(
    make_sidecar: MakeSidecar, make_redis: Callable[[], redis.RedisServer]
) -> None:
    # AUTH with a username (Redis 6 ACLs) and SELECT of the URL's database, as redis-py did.
    server = make_redis()
    admin = redis_client.Redis(host=server.host, port=server.port, password=redis.PASSWORD)
    try:
        admin.acl_setuser(
            "checker", enabled=True, passwords=["+s3cret"], commands=["+@all"], keys=["*"]
        )
        url = f"redis://checker:s3cret@{server.host}:{server.port}/3"
        sidecar = await make_sidecar(cache(url, redis={"url": url, "writeCheck": True}))
        await sidecar.wait_status("cache", "healthy")
        ours = [c for c in admin.client_list() if c["name"] == "healthgate-sidecar"]
    finally:
        admin.close()
    assert [(c["user"], c["db"]) for c in ours] == [("checker", "3")]

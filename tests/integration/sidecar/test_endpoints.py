"""The endpoints over real HTTP with real services: promtool, canaries everywhere, the token."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.env import neo4j, postgres, redis
from tests.integration.sidecar.conftest import FAST, Sidecar, Target

MakeSidecar = Callable[..., Awaitable[Sidecar]]
PATHS = (
    "/health", "/health/cache", "/health/db", "/health/graph", "/readyz?verbose", "/livez?verbose",
    "/startupz?verbose", "/metrics",
)  # fmt: skip
CANARIES = (redis.PASSWORD, postgres.PASSWORD, neo4j.PASSWORD, "hdr-Canary-33", "tok-Canary-44")


async def test_metrics_pass_promtool(
    make_sidecar: MakeSidecar, redis_server: redis.RedisServer, promtool: Path
) -> None:
    sidecar = await make_sidecar(
        {"name": "cache", "type": "redis", **FAST, "redis": {"url": redis_server.url}},
        {"name": "home", "type": "env", **FAST, "critical": False, "env": {"names": ["HOME"]}},
    )
    await sidecar.wait(lambda: sidecar.engine.ready)
    status, text = await sidecar.get("/metrics")
    assert status == 200
    for name in (
        "healthgate_dependency_up", "healthgate_dependency_status",
        "healthgate_dependency_check_duration_seconds_bucket", "healthgate_dependency_checks_total",
        "healthgate_ready", "healthgate_config_last_reload_successful",
    ):  # fmt: skip
        assert f"\n{name}{{" in text or f"\n{name} " in text, name
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


async def test_no_credential_anywhere(
    *,
    make_sidecar: MakeSidecar,
    redis_server: redis.RedisServer,
    postgres_server: postgres.PostgresServer,
    neo4j_server: neo4j.Neo4jServer,
    http_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every endpoint, with and without the token, JSON and IETF, and the logs: no canary."""
    monkeypatch.setenv("HG_NEO4J_PASSWORD", neo4j_server.password)
    monkeypatch.setenv("HG_HEADER", "hdr-Canary-33")
    (tmp_path / "token").write_text("tok-Canary-44")
    bad_redis = redis_server.url.replace(f"{redis_server.port}/0", "1/0")  # refused, same password
    slow = {"intervalSeconds": 1, "timeoutSeconds": 0.9}
    sidecar = await make_sidecar(
        {"name": "cache", "type": "redis", **FAST, "redis": {"url": redis_server.url}},
        {"name": "down", "type": "redis", **FAST, "redis": {"url": bad_redis}},
        {"name": "db", "type": "postgres", **slow, "postgres": {"dsn": postgres_server.dsn}},
        {"name": "graph", "type": "neo4j", **slow, "neo4j": {
            "uri": neo4j_server.uri, "passwordFromEnv": "HG_NEO4J_PASSWORD"}},
        {"name": "api", "type": "http", **FAST, "http": {
            "url": http_target.url + "/500",
            "headers": [{"name": "X-Key", "valueFromEnv": "HG_HEADER"}]}},
        authTokenFile=str(tmp_path / "token"),
        logFormat="json",
        logLevel="debug",
    )  # fmt: skip
    await sidecar.wait(lambda: all(c.last_checked for c in sidecar.engine.components()), 20)
    assert sidecar.component("down").reason == "connect"
    assert sidecar.component("api").reason == "status"
    outputs = []
    for path in PATHS:
        for headers in ({}, {"Authorization": "Bearer tok-Canary-44"}):
            for accept in ({}, {"Accept": "application/health+json"}):
                outputs.append((await sidecar.get(path, **headers, **accept))[1])
    assert '"details"' in "".join(outputs)  # the token did unlock the details
    outputs.append(capsys.readouterr().err)
    everything = "\n".join(outputs)
    for canary in CANARIES:
        assert canary not in everything, canary
    assert "redis://***@" in everything


async def test_health_status_codes_follow_readiness(
    make_sidecar: MakeSidecar, redis_server: redis.RedisServer
) -> None:
    sidecar = await make_sidecar(
        {"name": "cache", "type": "redis", **FAST, "redis": {"url": redis_server.url}},
        {"name": "gone", "type": "tcp", **FAST, "critical": False,
         "tcp": {"host": "127.0.0.1", "port": 1}},
    )  # fmt: skip
    await sidecar.wait(lambda: all(c.last_checked for c in sidecar.engine.components()))
    assert (await sidecar.get("/health"))[0] == 200  # a non-critical failure keeps us ready
    assert (await sidecar.get("/health/gone"))[0] == 503
    assert (await sidecar.get("/health/cache"))[0] == 200
    assert (await sidecar.get("/health/unknown"))[0] == 404
    assert (await sidecar.get("/readyz"))[0] == 200

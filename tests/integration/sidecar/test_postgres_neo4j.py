"""The postgres and neo4j checks against the real servers of the session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.env import common, neo4j, postgres
from tests.integration.sidecar.conftest import FAST, Sidecar, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def db(dsn_block: dict[str, str], **fields: object) -> dict[str, object]:
    return {"name": "db", "type": "postgres", **FAST, "postgres": dsn_block, **fields}


async def test_postgres_healthy_with_version(
    make_sidecar: MakeSidecar,
    postgres_server: postgres.PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_PG_DSN", postgres_server.dsn)
    sidecar = await make_sidecar(db({"dsnFromEnv": "HG_PG_DSN"}))
    await sidecar.wait_status("db", "healthy", timeout=15)
    details = sidecar.component("db").details
    assert str(details["version"]).split(".")[0] == "15"
    assert details["target"] == f"{postgres_server.host}:{postgres_server.port}/postgres"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(postgres.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_postgres_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    postgres_server: postgres.PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres_server.dsn.replace(postgres.PASSWORD, "wrong-Pg-Password")
    sidecar = await make_sidecar(db({"dsn": dsn}, intervalSeconds=1, timeoutSeconds=0.9))
    await sidecar.wait_status("db", "unhealthy", timeout=15)
    comp = sidecar.component("db")
    assert comp.reason == "auth"
    assert "password authentication failed" in comp.message
    _, body = await sidecar.get("/health")
    assert_no_secret("wrong-Pg-Password", body, comp.message, capsys.readouterr().err)


async def test_postgres_closed_port_is_connect(make_sidecar: MakeSidecar) -> None:
    dsn = f"postgresql://u:pw-Closed-1@127.0.0.1:{common.free_port()}/db"
    sidecar = await make_sidecar(db({"dsn": dsn}))
    await sidecar.wait_status("db", "unhealthy")
    assert sidecar.component("db").reason == "connect"
    assert "pw-Closed-1" not in sidecar.component("db").message


def graph(server: neo4j.Neo4jServer, password_env: str, **fields: object) -> dict[str, object]:
    block = {"uri": server.uri, "username": server.user, "passwordFromEnv": password_env}
    return {"name": "graph", "type": "neo4j", "intervalSeconds": 1, "timeoutSeconds": 0.9,
            "neo4j": block, **fields}  # fmt: skip


async def test_neo4j_healthy_with_version_and_edition(
    make_sidecar: MakeSidecar,
    neo4j_server: neo4j.Neo4jServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_NEO4J_PASSWORD", neo4j_server.password)
    sidecar = await make_sidecar(graph(neo4j_server, "HG_NEO4J_PASSWORD"))
    await sidecar.wait_status("graph", "healthy", timeout=20)
    details = sidecar.component("graph").details
    assert str(details["version"]).startswith("5.")
    assert details["edition"] == "community"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(neo4j.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_neo4j_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    neo4j_server: neo4j.Neo4jServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HG_NEO4J_BAD", "wrong-Neo4j-Pw")
    # failureThreshold 1 and one check: Neo4j rate-limits failed logins for the user.
    sidecar = await make_sidecar(graph(neo4j_server, "HG_NEO4J_BAD", intervalSeconds=30))
    await sidecar.wait_status("graph", "unhealthy", timeout=20)
    comp = sidecar.component("graph")
    assert comp.reason == "auth"
    assert "wrong-Neo4j-Pw" not in comp.message

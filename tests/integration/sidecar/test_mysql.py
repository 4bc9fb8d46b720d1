"""The mysql check against a real MariaDB (Debian's mariadb-server, started by tests/env)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.env import common, mariadb
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]
SLOW = {"intervalSeconds": 1, "timeoutSeconds": 0.9}


def db(server: mariadb.MariaDbServer, **block: object) -> dict[str, object]:
    fields = {"host": server.host, "port": server.port, "username": server.user, **block}
    return {"name": "db", "type": "mysql", **SLOW, "mysql": fields}


async def test_mysql_healthy_with_version(
    make_sidecar: MakeSidecar,
    mariadb_server: mariadb.MariaDbServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_MYSQL_PASSWORD", mariadb_server.password)
    sidecar = await make_sidecar(db(mariadb_server, passwordFromEnv="HG_MYSQL_PASSWORD"))
    await sidecar.wait_status("db", "healthy", timeout=15)
    details = sidecar.component("db").details
    assert str(details["version"]).startswith("10.")  # the 5.5.5- prefix is gone
    assert "MariaDB" in str(details["version"])
    assert details["target"] == f"{mariadb_server.host}:{mariadb_server.port}"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(mariadb.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_mysql_password_from_file(
    make_sidecar: MakeSidecar, mariadb_server: mariadb.MariaDbServer, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text(mariadb_server.password + "\n")  # as a Secret volume may hold it
    sidecar = await make_sidecar(db(mariadb_server, passwordFile=str(secret)))
    await sidecar.wait_status("db", "healthy", timeout=15)


async def test_mysql_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    mariadb_server: mariadb.MariaDbServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_MYSQL_BAD", "wrong-Mysql-Pw-77")
    sidecar = await make_sidecar(
        {**db(mariadb_server, passwordFromEnv="HG_MYSQL_BAD"), "failureThreshold": 1}
    )
    await sidecar.wait_status("db", "unhealthy", timeout=15)
    comp = sidecar.component("db")
    assert comp.reason == "auth"
    assert "Access denied" in comp.message
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    err = capsys.readouterr().err
    assert_no_secret("wrong-Mysql-Pw-77", body, metrics, err, comp.message)


async def test_mysql_database_without_grant_is_auth(
    make_sidecar: MakeSidecar,
    mariadb_server: mariadb.MariaDbServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HG_MYSQL_PASSWORD", mariadb_server.password)
    dep = db(mariadb_server, passwordFromEnv="HG_MYSQL_PASSWORD", database="no_such_db")
    sidecar = await make_sidecar({**dep, "failureThreshold": 1})
    await sidecar.wait_status("db", "unhealthy", timeout=15)
    comp = sidecar.component("db")
    # the user may not see a database it has no grant on: MariaDB says 1044, not 1049
    assert comp.reason == "auth"
    assert "no_such_db" in comp.message


async def test_mysql_closed_port_is_connect(make_sidecar: MakeSidecar) -> None:
    dep = {"name": "db", "type": "mysql", **SLOW,
           "failureThreshold": 1,
           "mysql": {"host": "127.0.0.1", "port": common.free_port(), "username": "u"}}  # fmt: skip
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("db", "unhealthy", timeout=15)
    assert sidecar.component("db").reason == "connect"


async def test_mysql_outage_and_recovery_on_the_kept_connection(
    make_sidecar: MakeSidecar,
    mariadb_server: mariadb.MariaDbServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kept connection dies with the server: the check must report it, then reconnect.
    monkeypatch.setenv("HG_MYSQL_PASSWORD", mariadb_server.password)
    dep = {**db(mariadb_server, passwordFromEnv="HG_MYSQL_PASSWORD"), "failureThreshold": 1}
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("db", "healthy", timeout=15)
    mariadb_server.stop()
    try:
        await sidecar.wait_status("db", "unhealthy", timeout=15)
        assert sidecar.component("db").reason == "connect"
    finally:
        mariadb_server.start()  # same port and data: the session's other tests need it
    await sidecar.wait_status("db", "healthy", timeout=30)

"""The smtp check against a real SMTP server (aiosmtpd with STARTTLS and AUTH, tests/env)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.env import common, smtp
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def mail(server: smtp.SmtpServer, **block: object) -> dict[str, object]:
    fields = {"host": server.host, "port": server.port} | block
    return {"name": "mail", "type": "smtp", "intervalSeconds": 1, "timeoutSeconds": 0.9,
            "failureThreshold": 1, "smtp": fields}  # fmt: skip


def secured(server: smtp.SmtpServer, **block: object) -> dict[str, object]:
    return mail(server, tls="starttls", caFile=str(server.ca), **block)


async def test_smtp_plain_ehlo_with_banner_and_extensions(
    make_sidecar: MakeSidecar, smtp_server: smtp.SmtpServer
) -> None:
    sidecar = await make_sidecar(mail(smtp_server))
    await sidecar.wait_status("mail", "healthy", timeout=15)
    details = sidecar.component("mail").details
    assert smtp.SERVER_NAME in str(details["banner"])
    assert details["starttls"] is False
    assert int(str(details["extensions"])) >= 3  # SIZE, 8BITMIME, STARTTLS, ...


async def test_smtp_starttls_and_auth(
    make_sidecar: MakeSidecar,
    smtp_server: smtp.SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_SMTP_PASSWORD", smtp_server.password)
    dep = secured(smtp_server, username=smtp_server.user, passwordFromEnv="HG_SMTP_PASSWORD")
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("mail", "healthy", timeout=15)
    assert sidecar.component("mail").details["starttls"] is True
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(smtp.PASSWORD, body, metrics, capsys.readouterr().err)


async def test_smtp_implicit_tls_and_auth(
    make_sidecar: MakeSidecar, smtp_server: smtp.SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HG_SMTP_PASSWORD", smtp_server.password)
    dep = mail(smtp_server, port=smtp_server.implicit_port, tls="implicit",
               caFile=str(smtp_server.ca), username=smtp_server.user,
               passwordFromEnv="HG_SMTP_PASSWORD")  # fmt: skip
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("mail", "healthy", timeout=15)
    assert sidecar.component("mail").details["starttls"] is False


async def test_smtp_wrong_password_is_auth(
    make_sidecar: MakeSidecar,
    smtp_server: smtp.SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_SMTP_BAD", "wrong-Smtp-Pw-31")
    dep = secured(smtp_server, username=smtp_server.user, passwordFromEnv="HG_SMTP_BAD")
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("mail", "unhealthy", timeout=15)
    comp = sidecar.component("mail")
    assert comp.reason == "auth"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    err = capsys.readouterr().err
    assert_no_secret("wrong-Smtp-Pw-31", body, metrics, err, comp.message)


async def test_smtp_auth_without_starttls_is_refused_by_the_server(
    make_sidecar: MakeSidecar, smtp_server: smtp.SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server offers AUTH only after STARTTLS: a password must never cross in clear text.
    monkeypatch.setenv("HG_SMTP_PASSWORD", smtp_server.password)
    dep = mail(smtp_server, username=smtp_server.user, passwordFromEnv="HG_SMTP_PASSWORD")
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("mail", "unhealthy", timeout=15)
    comp = sidecar.component("mail")
    assert comp.reason == "auth"
    assert "no AUTH" in comp.message


async def test_smtp_untrusted_certificate_is_tls(
    make_sidecar: MakeSidecar, smtp_server: smtp.SmtpServer
) -> None:
    sidecar = await make_sidecar(mail(smtp_server, tls="starttls"))  # system CAs only
    await sidecar.wait_status("mail", "unhealthy", timeout=15)
    assert sidecar.component("mail").reason == "tls"


async def test_smtp_closed_port_is_connect(make_sidecar: MakeSidecar) -> None:
    fields = {"host": "127.0.0.1", "port": common.free_port()}
    dep = {"name": "mail", "type": "smtp", "intervalSeconds": 1, "timeoutSeconds": 0.9,
           "failureThreshold": 1, "smtp": fields}  # fmt: skip
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("mail", "unhealthy", timeout=15)
    assert sidecar.component("mail").reason == "connect"

"""The oidc check against a real OpenID Provider (zitadel/oidc's example OP, ``tests/env/oidc``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from tests.env import oidc
from tests.integration.sidecar.conftest import Sidecar, assert_no_secret, outage_then_recovery

MakeSidecar = Callable[..., Awaitable[Sidecar]]
SLOW = {"intervalSeconds": 0.5, "timeoutSeconds": 0.4}


def provider(
    issuer: str, block: Mapping[str, object] | None = None, *, once: bool = False
) -> dict[str, object]:
    """The dependency; ``once``: unhealthy after one failure (failureThreshold 1)."""
    extra = {"failureThreshold": 1} if once else {}
    return {
        "name": "idp",
        "type": "oidc",
        **SLOW,
        **extra,
        "oidc": {"issuer": issuer, **(block or {})},
    }


def client(secret_env: str) -> dict[str, object]:
    return {"clientCredentials": {"clientId": oidc.CLIENT_ID, "clientSecretFromEnv": secret_env}}


async def test_oidc_healthy_with_keys_and_token(
    make_sidecar: MakeSidecar,
    oidc_provider: oidc.OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_OIDC_SECRET", oidc.CLIENT_SECRET)
    sidecar = await make_sidecar(provider(oidc_provider.issuer, client("HG_OIDC_SECRET")))
    await sidecar.wait_status("idp", "healthy", timeout=15)
    details = sidecar.component("idp").details
    assert details["target"] == oidc_provider.issuer
    assert int(str(details["keys"])) >= 1
    assert details["tokenGrant"] == "ok"
    assert "certDaysLeft" not in details  # this provider publishes bare keys, no x5c
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret(oidc.CLIENT_SECRET, body, metrics, capsys.readouterr().err)


async def test_oidc_wrong_client_secret_is_auth(
    make_sidecar: MakeSidecar,
    oidc_provider: oidc.OidcProvider,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("wrong-Oidc-Secret-9\n")
    credentials = {"clientId": oidc.CLIENT_ID, "clientSecretFile": str(secret_file)}
    block = {"clientCredentials": credentials}
    sidecar = await make_sidecar(provider(oidc_provider.issuer, block, once=True))
    await sidecar.wait_status("idp", "unhealthy", timeout=15)
    comp = sidecar.component("idp")
    assert comp.reason == "auth"
    assert "refused the client" in comp.message
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret("wrong-Oidc-Secret-9", body, metrics, comp.message, capsys.readouterr().err)


async def test_oidc_issuer_mismatch_is_assertion(
    make_sidecar: MakeSidecar, oidc_provider: oidc.OidcProvider
) -> None:
    # The same provider by another name: its document still announces 127.0.0.1, so a client
    # configured with "localhost" would reject every token; the check must say so.
    issuer = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    sidecar = await make_sidecar(provider(issuer, once=True))
    await sidecar.wait_status("idp", "unhealthy", timeout=15)
    comp = sidecar.component("idp")
    assert comp.reason == "assertion"
    assert f"issuer mismatch: the provider announces {oidc_provider.issuer}" in comp.message


async def test_oidc_missing_trailing_slash_is_a_mismatch(
    make_sidecar: MakeSidecar, oidc_provider: oidc.OidcProvider
) -> None:
    sidecar = await make_sidecar(provider(oidc_provider.issuer.rstrip("/"), once=True))
    await sidecar.wait_status("idp", "unhealthy", timeout=15)
    assert sidecar.component("idp").reason == "assertion"


async def test_oidc_provider_down_is_connect_then_recovers(
    make_sidecar: MakeSidecar, make_oidc_provider: Callable[[], oidc.OidcProvider]
) -> None:
    server = make_oidc_provider()
    sidecar = await make_sidecar(provider(server.issuer, once=True))
    await outage_then_recovery(sidecar, "idp", server, reason="connect")


async def test_oidc_no_discovery_document_is_status(
    make_sidecar: MakeSidecar, oidc_provider: oidc.OidcProvider
) -> None:
    # A real HTTP server, but no provider lives under this path: 404.
    sidecar = await make_sidecar(provider(oidc_provider.issuer + "elsewhere/", once=True))
    await sidecar.wait_status("idp", "unhealthy", timeout=15)
    comp = sidecar.component("idp")
    assert comp.reason == "status"
    assert "404" in comp.message

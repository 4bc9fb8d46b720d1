"""The http and llm checks against local aiohttp servers that misbehave on purpose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.sidecar.conftest import FAST, Sidecar, Target, Tls, assert_no_secret

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def api(url: str, **http: object) -> dict[str, object]:
    fields = {k: http.pop(k) for k in list(http) if k in ("failureThreshold", "degradedLatencyMs")}
    return {"name": "api", "type": "http", **FAST, "http": {"url": url, **http}, **fields}


async def test_ok_with_status_code(make_sidecar: MakeSidecar, http_target: Target) -> None:
    sidecar = await make_sidecar(api(http_target.url + "/ok", bodyRegex='"status": "up"'))
    await sidecar.wait_status("api", "healthy")
    assert sidecar.component("api").details["statusCode"] == 200


@pytest.mark.parametrize(
    ("path", "options", "reason", "message"),
    [
        ("/500", {}, "status", "answered unexpected status 500"),
        ("/ok", {"bodyRegex": "^down$"}, "assertion", "body does not match '^down$'"),
        ("/ok", {"expectedStatus": [204]}, "status", "unexpected status 200"),
        ("/slow?delay=2", {}, "timeout", "no answer within 0.2s"),
        ("/missing", {}, "status", "unexpected status 404"),
    ],
)
async def test_failures(
    *,
    make_sidecar: MakeSidecar,
    http_target: Target,
    path: str,
    options: dict[str, object],
    reason: str,
    message: str,
) -> None:
    sidecar = await make_sidecar(api(http_target.url + path, **options))
    await sidecar.wait_status("api", "unhealthy")
    comp = sidecar.component("api")
    assert comp.reason == reason
    assert message in comp.message


async def test_slow_but_in_time_is_degraded(make_sidecar: MakeSidecar, http_target: Target) -> None:
    dep = api(http_target.url + "/slow?delay=0.1", degradedLatencyMs=50)
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("api", "degraded")
    assert sidecar.engine.ready
    assert "slow:" in sidecar.component("api").message
    status, body = await sidecar.get("/health")
    assert status == 200
    assert '"status": "degraded"' in body


async def test_flapping_target_does_not_flip_readiness(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    sidecar = await make_sidecar(api(http_target.url + "/flap", failureThreshold=2))
    await sidecar.wait(lambda: http_target.flaps >= 8, timeout=8)
    comp = sidecar.component("api")
    assert comp.status == "healthy"
    assert sidecar.registry.get_sample_value(
        "healthgate_dependency_checks_total",
        {"dependency": "api", "result": "failure", "reason": "status"},
    )


async def test_connection_refused(make_sidecar: MakeSidecar) -> None:
    sidecar = await make_sidecar(api("http://127.0.0.1:1/"))
    await sidecar.wait_status("api", "unhealthy")
    assert sidecar.component("api").reason == "connect"


async def test_headers_from_env_and_file_are_sent_and_never_shown(
    make_sidecar: MakeSidecar,
    http_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HG_API_TOKEN", "Bearer hdr-Env-Canary-11")
    (tmp_path / "key").write_text("hdr-File-Canary-22\n")
    headers = [
        {"name": "Authorization", "valueFromEnv": "HG_API_TOKEN"},
        {"name": "X-Api-Key", "valueFile": str(tmp_path / "key")},
        {"name": "X-Plain", "value": "visible"},
    ]
    sidecar = await make_sidecar(api(http_target.url + "/ok", headers=headers))
    await sidecar.wait_status("api", "healthy")
    sent = http_target.seen[-1]
    assert sent["Authorization"] == "Bearer hdr-Env-Canary-11"
    assert sent["X-Api-Key"] == "hdr-File-Canary-22"
    assert sent["X-Plain"] == "visible"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    logs = capsys.readouterr().err
    for canary in ("hdr-Env-Canary-11", "hdr-File-Canary-22"):
        assert_no_secret(canary, body, metrics, logs)


async def test_https_with_ca_file(
    make_sidecar: MakeSidecar, https_target: Target, tls: Tls
) -> None:
    sidecar = await make_sidecar(api(https_target.url + "/ok", caFile=str(tls.cert)))
    await sidecar.wait_status("api", "healthy")


async def test_https_untrusted_is_tls(make_sidecar: MakeSidecar, https_target: Target) -> None:
    sidecar = await make_sidecar(api(https_target.url + "/ok"))
    await sidecar.wait_status("api", "unhealthy")
    assert sidecar.component("api").reason == "tls"


async def test_https_without_verification(make_sidecar: MakeSidecar, https_target: Target) -> None:
    sidecar = await make_sidecar(api(https_target.url + "/ok", tlsVerify=False))
    await sidecar.wait_status("api", "healthy")


def llm(base_url: str, **block: object) -> dict[str, object]:
    return {"name": "llm", "type": "llm", **FAST, "llm": {"baseUrl": base_url, **block}}


async def test_llm_models_and_rate_limit_headers(
    make_sidecar: MakeSidecar,
    http_target: Target,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "key").write_text("sk-llm-Canary-5e9a\n")
    block = {"apiKeyFile": str(tmp_path / "key"), "model": "gpt-4o-mini"}
    sidecar = await make_sidecar(llm(http_target.url + "/v1", **block))
    await sidecar.wait_status("llm", "healthy")
    details = sidecar.component("llm").details
    assert details["models"] == 2
    assert details["model"] == "gpt-4o-mini"
    assert details["x-ratelimit-remaining-requests"] == "499"
    assert details["x-ratelimit-limit-requests"] == "500"
    _, body = await sidecar.get("/health")
    _, metrics = await sidecar.get("/metrics")
    assert_no_secret("sk-llm-Canary-5e9a", body, metrics, capsys.readouterr().err)


async def test_llm_missing_model_is_assertion(
    make_sidecar: MakeSidecar, http_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HG_LLM_KEY", "sk-llm-Canary-5e9a")
    block = {"apiKeyFromEnv": "HG_LLM_KEY", "model": "gpt-5-imaginary"}
    sidecar = await make_sidecar(llm(http_target.url + "/v1", **block))
    await sidecar.wait_status("llm", "unhealthy")
    comp = sidecar.component("llm")
    assert (comp.reason, comp.message) == ("assertion", "model gpt-5-imaginary is not listed")


async def test_llm_wrong_key_is_auth(
    make_sidecar: MakeSidecar, http_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HG_LLM_KEY", "sk-wrong-Key-0000")
    sidecar = await make_sidecar(llm(http_target.url + "/v1", apiKeyFromEnv="HG_LLM_KEY"))
    await sidecar.wait_status("llm", "unhealthy")
    assert sidecar.component("llm").reason == "auth"


async def test_llm_rate_limited(make_sidecar: MakeSidecar, http_target: Target) -> None:
    sidecar = await make_sidecar(llm(http_target.url + "/limited"))
    await sidecar.wait_status("llm", "unhealthy")
    comp = sidecar.component("llm")
    assert comp.reason == "status"
    assert "rate limited" in comp.message


async def test_llm_wrong_body_is_assertion(make_sidecar: MakeSidecar, http_target: Target) -> None:
    sidecar = await make_sidecar(llm(http_target.url + "/html"))
    await sidecar.wait_status("llm", "unhealthy")
    comp = sidecar.component("llm")
    assert (comp.reason, comp.message) == (
        "assertion",
        "the answer is not an OpenAI-style model list",
    )

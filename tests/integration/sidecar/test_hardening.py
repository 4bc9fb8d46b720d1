"""Hostile clients, bodies and overload against the in-process sidecar over real HTTP.

Each test names the item of issue 14 it covers: a scrape must not run on the event loop, a
body regex must not freeze it, a starved loop must not fail a dependency, secrets must not
follow redirects or show in URLs, JSON must stay JSON, odd Authorization headers get a 401-like
answer without a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgate_sidecar import cli, render
from tests.integration.sidecar.conftest import FAST, Sidecar, Target, _serve

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def http(url: str, **block: object) -> dict[str, object]:
    return {"name": "api", "type": "http", **FAST, "http": {"url": url, **block}}


class _Spy(Collector):
    """A collector that notes where and how often the exposition is rendered."""

    def __init__(self) -> None:
        self.on_loop: list[bool] = []

    def collect(self) -> Iterator[Metric]:
        self.on_loop.append(_loop_running())
        time.sleep(0.05)  # a slow render, so that concurrent scrapes overlap
        yield GaugeMetricFamily("spy_renders", "Renders seen by the spy.", len(self.on_loop))


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_item1_metrics_render_off_the_loop_once_for_concurrent_scrapes(
    make_sidecar: MakeSidecar,
) -> None:
    sidecar = await make_sidecar(
        {"name": "home", "type": "env", "intervalSeconds": 60, "timeoutSeconds": 1,
         "env": {"names": ["HOME"]}}
    )  # fmt: skip
    await sidecar.wait(lambda: sidecar.engine.ready)
    spy = _Spy()
    sidecar.registry.register(spy)
    sidecar.engine.version += 1  # the state "changed": the next scrape renders afresh
    answers = await asyncio.gather(*(sidecar.get("/metrics") for _ in range(8)))
    assert all(status == 200 and "spy_renders" in text for status, text in answers)
    assert spy.on_loop == [False]  # one render, in a worker thread


async def test_item1_health_renders_off_the_loop(
    make_sidecar: MakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = await make_sidecar(
        {"name": "home", "type": "env", **FAST, "env": {"names": ["HOME"]}}
    )
    await sidecar.wait(lambda: sidecar.engine.ready)
    seen: list[bool] = []
    original = render.health

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(_loop_running())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "health", spy)
    status, _ = await sidecar.get("/health")
    assert status == 200
    assert seen
    assert not any(seen)


async def test_item2_body_regex_cannot_freeze_the_sidecar(make_sidecar: MakeSidecar) -> None:
    async def evil(_: web.Request) -> web.Response:
        return web.Response(text="a" * 40 + "!")  # ^(a+)+$ backtracks 2**40 times in `re`

    app = web.Application()
    app.router.add_get("/", evil)
    runner, url = await _serve(app)
    try:
        sidecar = await make_sidecar(http(url + "/", bodyRegex="^(a+)+$"))
        await sidecar.wait_status("api", "unhealthy", timeout=20)
        assert sidecar.component("api").reason == "assertion"
        assert (await sidecar.get("/livez"))[0] == 200
    finally:
        await runner.cleanup()


async def test_item4_a_starved_loop_does_not_fail_a_dependency(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    dep = http(http_target.url + "/slow?delay=0.1")
    dep.update(intervalSeconds=0.5, timeoutSeconds=0.4, failureThreshold=1)
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("api", "healthy")
    runner = sidecar.engine.runners["api"]
    for _ in range(3):
        await sidecar.wait(lambda: runner.in_flight_since is not None)
        time.sleep(0.6)
        await sidecar.wait(lambda: runner.in_flight_since is None)
        assert sidecar.component("api").status == "healthy"
    skipped = sidecar.registry.get_sample_value(
        "healthgate_dependency_checks_total",
        {"dependency": "api", "result": "skipped", "reason": "overloaded"},
    )
    assert skipped is not None
    assert skipped >= 1
    # The gauge shows the worst lag of the last second: our 0.6 s stalls.
    lag = sidecar.registry.get_sample_value("healthgate_event_loop_lag_seconds")
    assert lag is not None
    assert lag >= 0.5


@pytest.fixture
async def other_origin() -> AsyncIterator[Target]:
    """A second server (another port: another origin) that records what it is sent."""
    target = Target(url="")

    async def record(request: web.Request) -> web.Response:
        target.seen.append(dict(request.headers))
        return web.Response(text="elsewhere")

    app = web.Application()
    app.router.add_get("/landing", record)
    runner, target.url = await _serve(app)
    yield target
    await runner.cleanup()


async def test_item8_configured_headers_never_follow_a_redirect_to_another_origin(
    make_sidecar: MakeSidecar, other_origin: Target
) -> None:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound(other_origin.url + "/landing")

    app = web.Application()
    app.router.add_get("/", redirect)
    runner, url = await _serve(app)
    headers = [
        {"name": "X-Api-Key", "value": "hdr-Canary-81"},
        {"name": "Authorization", "value": "Bearer hdr-Canary-82"},
        {"name": "X-Tenant", "value": "plain-value"},
    ]
    try:
        sidecar = await make_sidecar(http(url + "/", headers=headers))
        await sidecar.wait_status("api", "healthy")
        await sidecar.wait(lambda: bool(other_origin.seen))
    finally:
        await runner.cleanup()
    for seen in other_origin.seen:
        assert not {"X-Api-Key", "Authorization", "X-Tenant"} & set(seen)


async def test_item8_same_origin_redirect_keeps_the_headers(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    app = web.Application()
    app.router.add_get("/", redirect)
    app.router.add_get("/ok", functools.partial(_record, http_target))
    runner, url = await _serve(app)
    try:
        sidecar = await make_sidecar(http(url + "/", headers=[{"name": "X-Api-Key", "value": "k"}]))
        await sidecar.wait(lambda: bool(http_target.seen))
    finally:
        await runner.cleanup()
    assert http_target.seen[0]["X-Api-Key"] == "k"


async def _record(target: Target, request: web.Request) -> web.Response:
    target.seen.append(dict(request.headers))
    return web.Response(text="ok")


async def test_item9_url_userinfo_and_query_values_are_redacted_everywhere(
    make_sidecar: MakeSidecar,
    http_target: Target,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = http_target.url.removeprefix("http://")
    url = f"http://User-Token-91@{host}/500?sig=Sig-92&access_key=Key-93&X-Amz-Signature=S-94"
    with caplog.at_level(logging.INFO):
        sidecar = await make_sidecar(http(url))
        await sidecar.wait_status("api", "unhealthy")
    outputs = [
        (await sidecar.get("/health"))[1],
        (await sidecar.get("/health/api"))[1],
        (await sidecar.get("/health", Accept="application/health+json"))[1],
        caplog.text,
    ]
    for output in outputs:
        for canary in ("User-Token-91", "Sig-92", "Key-93", "S-94"):
            assert canary not in output
    assert "sig=***&access_key=***&X-Amz-Signature=***" in outputs[0]


async def test_item10_check_json_stays_valid_json(
    http_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    dep = http(http_target.url + "/ok", bodyRegex="token=abc'")
    config.write_text(json.dumps({"dependencies": [dep]}))
    code = await asyncio.to_thread(cli.main, ["check", "--config", str(config), "--json"])
    assert code == 1
    body = json.loads(capsys.readouterr().out)
    assert body["components"]["api"]["reason"] == "assertion"


@pytest.mark.parametrize("header", ["Bearer é", "Bearer \u2603", "bearer ü-tok-Canary-111"])
async def test_item11_non_ascii_bearer_token_is_refused_without_a_traceback(
    make_sidecar: MakeSidecar,
    tmp_path: Path,
    header: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = tmp_path / "token"
    token.write_text("tok-Canary-111\n")
    sidecar = await make_sidecar(
        {"name": "home", "type": "env", **FAST, "env": {"names": ["HOME"]}},
        authTokenFile=str(token),
    )
    await sidecar.wait(lambda: sidecar.engine.ready)
    with caplog.at_level(logging.DEBUG):
        async with aiohttp.ClientSession() as session:
            raw = {"Authorization": header.encode("utf-8").decode("latin-1")}
            async with session.get(sidecar.url + "/health", headers=raw) as resp:
                assert resp.status == 200
                body = await resp.json()
    assert "message" not in body["components"]["home"]  # statuses only: not authorized
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


def test_item11_other_libraries_log_one_line_at_most_once_per_interval() -> None:
    from healthgate_sidecar import logs  # noqa: PLC0415 - the filter under test

    one = logs.OneLine(quiet=60)
    records = []
    for _ in range(5):
        try:
            raise OSError(24, "Too many open files")
        except OSError as exc:
            record = logging.LogRecord(
                "asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
                None, (OSError, exc, exc.__traceback__),
            )  # fmt: skip
        if one.filter(record):
            records.append(record)
    assert len(records) == 1
    assert records[0].exc_info is None
    assert "Too many open files" in records[0].getMessage()
    assert threading.current_thread() is threading.main_thread()

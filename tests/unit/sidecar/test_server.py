"""Probe handlers, called in-process with mocked requests (the HTTP tests are integration)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry

from healthgate_sidecar import bodies, render, server, state
from healthgate_sidecar.contract import SidecarConfig
from healthgate_sidecar.state import Component
from tests.unit.sidecar.helpers import Script, config, dependency, hangs, refused, wait_for


async def call(app: web.Application, path: str, **headers: str) -> web.Response:
    match = await app.router.resolve(make_mocked_request("GET", path, app=app))
    request = make_mocked_request("GET", path, headers=headers, app=app, match_info=dict(match))
    try:
        response = await match.handler(request)
    except web.HTTPException as exc:
        return web.Response(status=exc.status, text=exc.text)
    assert isinstance(response, web.Response)
    return response


def body(response: web.Response) -> str:
    assert isinstance(response.body, bytes)
    return response.body.decode()


@pytest.fixture
async def make_app() -> AsyncIterator[object]:
    apps: list[web.Application] = []

    async def make(cfg: SidecarConfig, script: Script) -> web.Application:
        app = server.create_app(cfg, registry=CollectorRegistry(), create=script)
        app.freeze()
        await app[server.ENGINE].apply(cfg)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app[server.ENGINE].stop()


async def test_probes_while_a_critical_dependency_fails(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(
        config(dependency("cache"), dependency("db", failureThreshold=1)), Script(db=refused)
    )
    eng = app[server.ENGINE]
    await wait_for(lambda: all(c.last_checked for c in eng.components()))
    assert (await call(app, "/livez")).status == 200
    ready = await call(app, "/readyz")
    assert ready.status == 503
    assert body(ready).splitlines() == [
        "[+]config ok",
        "[+]shutdown ok",
        "[+]cache ok",
        "[-]db failed: connect",
        "readyz check failed",
    ]
    excluded = await call(app, "/readyz?exclude=db&verbose")
    assert excluded.status == 200
    assert "[+]db excluded: ok" in body(excluded)
    assert (await call(app, "/startupz")).status == 200


async def test_liveness_never_depends_on_dependencies(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("a", failureThreshold=1)), Script(a=hangs))
    eng = app[server.ENGINE]
    await wait_for(lambda: eng.runners["a"].component.status == "unhealthy")
    live = await call(app, "/livez?verbose")
    assert live.status == 200
    assert body(live).endswith("livez check passed\n")


async def test_startupz_is_503_until_every_dependency_has_a_result(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("a", timeoutSeconds=0.09)), Script(a=hangs))
    response = await call(app, "/startupz?verbose")
    assert response.status == 503
    assert "[-]a failed: no result yet" in body(response)


async def test_health_json_shape(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(
        config(dependency("cache"), dependency("search", critical=False, failureThreshold=1)),
        Script(search=refused),
    )
    eng = app[server.ENGINE]
    await wait_for(lambda: all(c.last_checked for c in eng.components()))
    response = await call(app, "/health")
    assert response.status == 200
    data = json.loads(body(response))
    assert (data["status"], data["ready"]) == ("degraded", True)
    assert set(data["components"]["cache"]) == {
        "status", "type", "critical", "message", "responseTimeMs", "details", "lastChecked",
        "lastSuccess", "lastFailure", "consecutiveFailures", "reason",
    }  # fmt: skip
    search = data["components"]["search"]
    assert (search["status"], search["reason"], search["critical"]) == (
        "unhealthy",
        "connect",
        False,
    )
    one = await call(app, "/health/search")
    assert one.status == 503
    assert json.loads(body(one))["name"] == "search"
    assert (await call(app, "/health/nope")).status == 404


async def test_ietf_health_json(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("cache")), Script())
    await wait_for(lambda: app[server.ENGINE].ready)
    response = await call(app, "/health", Accept="application/health+json")
    assert response.content_type == "application/health+json"
    data = json.loads(body(response))
    assert data["status"] == "pass"
    [check] = data["checks"]["cache:responseTime"]
    assert (check["componentId"], check["status"], check["observedUnit"]) == ("cache", "pass", "ms")


async def test_bearer_token_guards_details(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text("tok-Canary-1234\n")
    app = await make_app(config(dependency("cache"), authTokenFile=str(token_file)), Script())
    app[server.TOKEN].use(str(token_file))
    await wait_for(lambda: app[server.ENGINE].ready)
    anonymous = json.loads(body(await call(app, "/health")))
    assert anonymous["components"]["cache"] == {
        "status": "healthy",
        "type": "env",
        "critical": True,
    }
    wrong = json.loads(body(await call(app, "/health", Authorization="Bearer nope")))
    assert "details" not in wrong["components"]["cache"]
    right = json.loads(body(await call(app, "/health", Authorization="Bearer tok-Canary-1234")))
    assert right["components"]["cache"]["details"] == {"answer": 42}
    ietf = json.loads(body(await call(app, "/health", Accept="application/health+json")))
    assert "observedValue" not in ietf["checks"]["cache:responseTime"][0]


async def test_unreadable_token_file_fails_closed(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = str(tmp_path / "missing")
    app = await make_app(config(dependency("cache"), authTokenFile=missing), Script())
    app[server.TOKEN].use(missing)
    data = json.loads(body(await call(app, "/health", Authorization="Bearer ")))
    assert "message" not in data["components"]["cache"]


async def test_draining_shows_in_readyz(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("cache")), Script())
    await wait_for(lambda: app[server.ENGINE].ready)
    app[server.ENGINE].begin_drain()
    response = await call(app, "/readyz?verbose")
    assert response.status == 503
    assert "[-]shutdown failed: draining" in body(response)


async def test_metrics_endpoint(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("cache")), Script())
    await wait_for(lambda: app[server.ENGINE].ready)
    response = await call(app, "/metrics")
    assert response.status == 200
    text = body(response)
    assert 'healthgate_dependency_up{critical="true",dependency="cache",type="env"} 1.0' in text
    assert "healthgate_ready 1.0" in text


async def test_health_bodies_follow_every_change(make_app) -> None:  # type: ignore[no-untyped-def]
    script = Script()
    app = await make_app(config(dependency("cache", failureThreshold=1)), script)
    eng = app[server.ENGINE]
    await wait_for(lambda: eng.ready)
    first = json.loads(body(await call(app, "/health")))
    assert first["components"]["cache"]["status"] == "healthy"
    script.behaviours["cache"] = refused
    await wait_for(lambda: not eng.ready)
    second = await call(app, "/health")
    assert second.status == 503
    assert json.loads(body(second))["components"]["cache"]["reason"] == "connect"
    one = json.loads(body(await call(app, "/health/cache")))
    assert one["status"] == "unhealthy"


@pytest.mark.parametrize("names", [[], ["a"], ["a", "b\u00e9", 'q"uote']])
def test_bodies_encoded_entry_by_entry_are_those_of_one_json_dumps(names: list[str]) -> None:
    comps = [Component(name=n, type="env", message=f"m {n}") for n in names]
    health = render.health(comps, state.aggregate(comps), ready=True, full=True)
    assert render.dumps(health, "components") == json.dumps(health).encode()
    ietf = render.ietf(comps, ready=False, full=True)
    assert render.dumps(ietf, "checks") == json.dumps(ietf).encode()


async def test_cached_metrics_body_follows_a_state_change(make_app) -> None:  # type: ignore[no-untyped-def]
    script = Script()
    app = await make_app(config(dependency("cache", failureThreshold=1)), script)
    eng = app[server.ENGINE]
    await wait_for(lambda: eng.ready)
    assert "healthgate_ready 1.0" in body(await call(app, "/metrics"))
    cached = body(await call(app, "/metrics"))
    script.behaviours["cache"] = refused
    await wait_for(lambda: not eng.ready)
    for _ in range(300):  # a body may be reused for a few render times, not for good
        text = body(await call(app, "/metrics"))
        if "healthgate_ready 0.0" in text:
            break
        await asyncio.sleep(0.01)
    assert "healthgate_ready 0.0" in text, text
    assert 'healthgate_dependency_up{critical="true",dependency="cache",type="env"} 0.0' in text
    assert text != cached


async def test_one_big_response_leaves_per_loop_turn_in_arrival_order() -> None:
    paced = bodies.Bodies()
    order: list[int] = []

    async def send(n: int) -> None:
        await paced.turn()
        order.append(n)

    tasks = [asyncio.create_task(send(n)) for n in range(3)]
    await asyncio.sleep(0)  # one turn of the loop: the first sender goes, the others wait
    assert order == [0]
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]


async def test_metrics_compressed_once_for_clients_that_take_gzip(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("cache")), Script())
    await wait_for(lambda: app[server.ENGINE].ready)
    plain = await call(app, "/metrics", **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    packed = await call(app, "/metrics", **{"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert isinstance(packed.body, bytes)
    assert "healthgate_ready 1.0" in gzip.decompress(packed.body).decode()
    refused = await call(app, "/metrics", **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


async def test_health_body_follows_results_that_change_no_status(make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(config(dependency("cache")), Script())
    eng = app[server.ENGINE]
    await wait_for(lambda: eng.started)
    comp = eng.runners["cache"].component
    first, version = comp.last_checked, eng.version
    await wait_for(lambda: comp.last_checked != first)  # another healthy result, same status
    assert comp.status == "healthy"
    assert eng.version > version  # what keys the cached bodies
    for _ in range(300):
        shown = json.loads(body(await call(app, "/health")))["components"]["cache"]
        if shown["lastChecked"] != render.iso(first):
            break
        await asyncio.sleep(0.01)
    assert shown["lastChecked"] != render.iso(first)


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [("", False), ("gzip", True), ("GZIP, deflate", True), ("gzip;q=0", False),
     ("deflate, gzip;q=0.5", True), ("*", True), ("*;q=0, gzip", True), ("identity", False),
     ("gzip;q=x", False), ("br;q=1.0,gzip;q=0.8,*;q=0.1", True)],
)  # fmt: skip
def test_accept_encoding(header: str, gzipped: bool) -> None:
    assert bodies.accepts_gzip(header) is gzipped


async def test_a_paced_body_lags_on_timings_never_across_a_status_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bodies, "DUTY", 1e9)  # every body stays fresh for the whole test
    monkeypatch.setattr(bodies, "MAX_REUSE", 1e9)
    paced = bodies.Bodies()
    assert await paced.get("k", 1, 1, lambda: b"v1") == b"v1"
    # Newer results, same statuses (epoch 1): the fresh body is served as it is.
    assert await paced.get("k", 2, 1, lambda: b"v2") == b"v1"
    # A status changed (epoch 2): rendered afresh, whatever the pacing.
    assert await paced.get("k", 3, 2, lambda: b"v3") == b"v3"
    assert await paced.get("k", 3, 2, lambda: b"again") == b"v3"  # once per version

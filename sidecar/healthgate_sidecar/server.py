"""The HTTP face of the sidecar: probe endpoints, /health JSON, /metrics.

``create_app(config, *, registry)`` wires an :class:`engine.Engine` (started and stopped by
``cleanup_ctx``) and, given the config's path, a :class:`reload.Reloader`. Handlers only read
memory: no check ever runs on a request. Big bodies (``/health``, ``/metrics``) are rendered once
per engine version in a worker thread (:mod:`bodies`), so scrapers never delay the probes.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, exposition

from healthgate_sidecar import (
    bodies,
    checks,
    directives,
    engine,
    lag,
    logs,
    metrics,
    reload,
    render,
    wire,
)

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig

HEALTH_JSON = "application/health+json"


ENGINE = web.AppKey("engine", engine.Engine)
# Rendered /health and /metrics bodies, by what varies them (name, full, ietf; content type).
BODIES = web.AppKey("bodies", bodies.Bodies)
TOKEN = web.AppKey("token", reload.TokenFile)
RELOADER = web.AppKey("reloader", reload.Reloader)


def _authorized(request: web.Request) -> bool:
    token = request.app[TOKEN]
    if token.path is None:
        return True
    # An unreadable token file leaves token None: nobody gets details (fail closed).
    if token.token is None:
        return False
    header = request.headers.get("Authorization", "")
    given = header[7:] if header[:7].lower() == "bearer " else ""
    # Bytes, not str: compare_digest refuses non-ASCII str, and a client's "Bearer é" must be
    # a plain refusal, not an exception. aiohttp decoded the header as UTF-8 with surrogates.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), token.token.encode("utf-8")
    )


def _text(lines: list[str], verdict: str, ok: bool) -> web.Response:
    return web.Response(text="\n".join([*lines, verdict]) + "\n", status=200 if ok else 503)


async def livez(request: web.Request) -> web.Response:
    problems = request.app[ENGINE].liveness_problems()
    if "verbose" not in request.query and not problems:
        return web.Response(text="ok")
    lines = ["[+]ping ok"] + [f"[-]scheduler failed: {p}" for p in problems]
    if not problems:
        lines.append("[+]scheduler ok")
    return _text(lines, f"livez check {'failed' if problems else 'passed'}", not problems)


async def readyz(request: web.Request) -> web.Response:
    eng = request.app[ENGINE]
    exclude = request.query.getall("exclude", [])
    ready = eng.is_ready(exclude)
    if ready and "verbose" not in request.query:
        return web.Response(text="ok")  # the hot path: kubelet polls this
    lines = render.readyz_lines(
        eng.components(),
        loaded=eng.config is not None,
        draining=eng.draining,
        exclude=exclude,
        fail_open=eng.fail_open,
    )
    return _text(lines, f"readyz check {'passed' if ready else 'failed'}", ready)


async def startupz(request: web.Request) -> web.Response:
    eng = request.app[ENGINE]
    if eng.started and "verbose" not in request.query:
        return web.Response(text="ok")
    lines = render.startupz_lines(eng.components(), loaded=eng.config is not None)
    return _text(lines, f"startupz check {'passed' if eng.started else 'failed'}", eng.started)


def _response(body: bytes, *, ietf: bool, ok: bool) -> web.Response:
    content_type = HEALTH_JSON if ietf else "application/json"
    return web.Response(body=body, status=200 if ok else 503, content_type=content_type)


def _wants_ietf(request: web.Request) -> bool:
    return HEALTH_JSON in request.headers.get("Accept", "")


async def health(request: web.Request) -> web.Response:
    eng, full, ietf = request.app[ENGINE], _authorized(request), _wants_ietf(request)
    # Taken on the loop: the worker must not iterate the engine's live dictionaries.
    comps, overall, ready, opened = eng.components(), eng.overall, eng.ready, eng.fail_open

    def build() -> bytes:
        if ietf:
            return render.dumps(render.ietf(comps, ready=ready, full=full), "checks")
        body = render.health(comps, overall, ready=ready, full=full, fail_open=opened)
        return render.dumps(body, "components")

    key = ("health", full, ietf)
    body = await request.app[BODIES].get(key, eng.version, eng.status_version, build)
    await request.app[BODIES].turn()
    return _response(body, ietf=ietf, ok=ready)


async def health_one(request: web.Request) -> web.Response:
    """One dependency: 200 while it is healthy or degraded, 503 otherwise, 404 if unknown."""
    eng, full, ietf = request.app[ENGINE], _authorized(request), _wants_ietf(request)
    runner = eng.runners.get(request.match_info["name"])
    if runner is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such dependency"}), content_type="application/json"
        )
    comp = runner.component
    ok = wire.is_up(comp.status)

    def build() -> bytes:
        if ietf:
            return json.dumps(render.ietf([comp], ready=ok, full=full)).encode()
        return json.dumps({"name": comp.name, **render.component(comp, full=full)}).encode()

    body = request.app[BODIES].inline(("one", comp.name, full, ietf), eng.version, build)
    return _response(body, ietf=ietf, ok=ok)


async def metrics_handler(request: web.Request) -> web.Response:
    eng = request.app[ENGINE]
    exposer = eng.metrics
    assert exposer is not None  # create_app always sets it
    snapshot, accept = eng.snapshot(), request.headers.get("Accept", "")
    # Keyed by the format, not the raw header: clients must not be able to grow the cache.
    content_type = exposition.choose_encoder(accept)[1]
    gzipped = bodies.accepts_gzip(request.headers.get("Accept-Encoding", ""))

    def build() -> bytes:
        return bodies.encode(exposer.expose(snapshot, accept)[0], gzipped=gzipped)

    version, epoch = eng.version + exposer.changes, eng.status_version + exposer.changes
    key = ("metrics", content_type, gzipped)
    body = await request.app[BODIES].get(key, version, epoch, build)
    await request.app[BODIES].turn()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    response.headers["Vary"] = "Accept-Encoding"
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return response


def _engine_ctx(config: SidecarConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        eng = app[ENGINE]
        apply_settings(app, config)
        gauge = eng.metrics.loop_lag if eng.metrics is not None else None
        eng.lag = lag.LagMonitor(on_lag=gauge.set if gauge is not None else None)
        async with eng.lag.running():
            await eng.apply(config)
            if eng.metrics is not None:
                eng.metrics.reloaded(ok=True, at=reload.now())
            yield
            await eng.stop()

    return ctx


async def _reloader_ctx(app: web.Application) -> AsyncIterator[None]:
    async with app[RELOADER].running():
        yield


def apply_settings(app: web.Application, config: SidecarConfig) -> None:
    """Sidecar-wide settings of a (re)loaded config: auth token, directive keys, log format."""
    app[TOKEN].use(config.auth_token_file)
    app[directives.RECEIVER].configure(config.directives)
    logs.configure(fmt=config.log_format, level=config.log_level)


def _watch(app: web.Application, config: SidecarConfig, path: Path, digest: str | None) -> None:
    """Hot reload: a :class:`reload.Reloader` on ``path``, running with the app."""
    eng = app[ENGINE]

    async def on_config(new: SidecarConfig) -> None:
        apply_settings(app, new)
        await eng.apply(new)

    def interval() -> float:
        return eng.config.watch_interval_seconds if eng.config is not None else 1.0

    app[RELOADER] = reload.Reloader(
        path,
        current=config,
        on_config=on_config,
        metrics=eng.metrics,
        interval=interval,
        # The token file may rotate on its own (a Secret update), not only with the config.
        on_tick=app[TOKEN].refresh,
        digest=digest,
    )
    app.cleanup_ctx.append(_reloader_ctx)


def create_app(
    config: SidecarConfig,
    *,
    registry: CollectorRegistry,
    config_path: Path | None = None,
    config_digest: str | None = None,
    create: engine.CheckerFactory = checks.create_checker,
) -> web.Application:
    """The sidecar application; checks start with the app and stop at its cleanup.

    ``config_digest``: the sha256 of the bytes of ``config_path`` that ``config`` came from, so
    that the first look for changes need not validate them again.
    """
    app = web.Application()
    eng = engine.Engine(create=create)
    eng.metrics = metrics.Metrics(registry, eng.snapshot)
    app[ENGINE] = eng
    app[TOKEN] = reload.TokenFile()
    app[BODIES] = bodies.Bodies()
    directives.install(app, eng, registry)
    app.cleanup_ctx.append(_engine_ctx(config))
    if config_path is not None:
        _watch(app, config, config_path, config_digest)
    app.router.add_get(wire.LIVEZ, livez)
    app.router.add_get(wire.READYZ, readyz)
    app.router.add_get(wire.STARTUPZ, startupz)
    app.router.add_get(wire.HEALTH, health)
    app.router.add_get(wire.HEALTH_ONE, health_one)
    app.router.add_get(wire.METRICS, metrics_handler)
    return app

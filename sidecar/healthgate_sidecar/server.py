"""The HTTP face of the sidecar: probe endpoints, /health JSON, /metrics.

``create_app(config, *, registry)`` wires an :class:`engine.Engine` (started and stopped by
``cleanup_ctx``) and, given the config's path, a :class:`reload.Reloader`. Handlers only read
memory: no check ever runs on a request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from healthgate_sidecar import checks, engine, logs, metrics, reload, render, state
from healthgate_sidecar.contract import SidecarConfig

HEALTH_JSON = "application/health+json"


ENGINE = web.AppKey("engine", engine.Engine)
# Rendered /health bodies of the engine's current version, by (name, full, ietf).
BODIES = web.AppKey("bodies", dict[tuple[int, str, bool, bool], bytes])
TOKEN = web.AppKey("token", reload.TokenFile)
RELOADER = web.AppKey("reloader", reload.Reloader)


def _authorized(request: web.Request) -> bool:
    token = request.app[TOKEN]
    if token.path is None:
        return True
    header = request.headers.get("Authorization", "")
    given = header[7:] if header[:7].lower() == "bearer " else ""
    # An unreadable token file leaves token None: nobody gets details (fail closed).
    return token.token is not None and hmac.compare_digest(given, token.token)


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
    ready = eng.ready
    if exclude:
        ready = eng.ready or (
            eng.config is not None
            and not eng.draining
            and state.aggregate(eng.components(), exclude).ready
        )
    if ready and "verbose" not in request.query:
        return web.Response(text="ok")  # the hot path: kubelet polls this
    lines = render.readyz_lines(
        eng.components(), loaded=eng.config is not None, draining=eng.draining, exclude=exclude
    )
    return _text(lines, f"readyz check {'passed' if ready else 'failed'}", ready)


async def startupz(request: web.Request) -> web.Response:
    eng = request.app[ENGINE]
    if eng.started and "verbose" not in request.query:
        return web.Response(text="ok")
    lines = render.startupz_lines(eng.components(), loaded=eng.config is not None)
    return _text(lines, f"startupz check {'passed' if eng.started else 'failed'}", eng.started)


def _json(
    request: web.Request,
    key: tuple[str, bool, bool],
    build: Callable[[], dict[str, Any]],
    *,
    ok: bool,
) -> web.Response:
    """A JSON answer, rendered once per engine change (monitoring may poll /health hard)."""
    bodies, version = request.app[BODIES], request.app[ENGINE].version
    full_key = (version, *key)
    body = bodies.get(full_key)
    if body is None:
        if any(k[0] != version for k in bodies):
            bodies.clear()
        body = bodies[full_key] = json.dumps(build()).encode()
    content_type = HEALTH_JSON if key[2] else "application/json"
    return web.Response(body=body, status=200 if ok else 503, content_type=content_type)


def _wants_ietf(request: web.Request) -> bool:
    return HEALTH_JSON in request.headers.get("Accept", "")


async def health(request: web.Request) -> web.Response:
    eng, full, ietf = request.app[ENGINE], _authorized(request), _wants_ietf(request)

    def build() -> dict[str, Any]:
        comps = eng.components()
        if ietf:
            return render.ietf(comps, ready=eng.ready, full=full)
        return render.health(comps, eng.overall, ready=eng.ready, full=full)

    return _json(request, ("", full, ietf), build, ok=eng.ready)


async def health_one(request: web.Request) -> web.Response:
    """One dependency: 200 while it is healthy or degraded, 503 otherwise, 404 if unknown."""
    eng, full, ietf = request.app[ENGINE], _authorized(request), _wants_ietf(request)
    runner = eng.runners.get(request.match_info["name"])
    if runner is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such dependency"}), content_type="application/json"
        )
    comp = runner.component
    ok = comp.status in ("healthy", "degraded")

    def build() -> dict[str, Any]:
        if ietf:
            return render.ietf([comp], ready=ok, full=full)
        return {"name": comp.name, **render.component(comp, full=full)}

    return _json(request, (comp.name, full, ietf), build, ok=ok)


def _engine_ctx(config: SidecarConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        eng = app[ENGINE]
        apply_settings(app, config)
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
    """Sidecar-wide settings of a (re)loaded config: auth token and log format."""
    app[TOKEN].use(config.auth_token_file)
    logs.configure(fmt=config.log_format, level=config.log_level)


def _watch(app: web.Application, config: SidecarConfig, path: Path) -> None:
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
    )
    app.cleanup_ctx.append(_reloader_ctx)


def create_app(
    config: SidecarConfig,
    *,
    registry: CollectorRegistry,
    config_path: Path | None = None,
    create: engine.ProberFactory = checks.create_prober,
) -> web.Application:
    """The sidecar application; checks start with the app and stop at its cleanup."""
    app = web.Application()
    eng = engine.Engine(create=create)
    eng.metrics = metrics.Metrics(registry, eng.snapshot)
    app[ENGINE] = eng
    app[TOKEN] = reload.TokenFile()
    app[BODIES] = {}
    app.cleanup_ctx.append(_engine_ctx(config))
    if config_path is not None:
        _watch(app, config, config_path)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/startupz", startupz)
    app.router.add_get("/health", health)
    app.router.add_get("/health/{name}", health_one)
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    return app

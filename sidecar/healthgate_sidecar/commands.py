"""The commands behind the command line (:mod:`cli`): ``check`` once, ``serve`` until stopped.

Kept apart from :mod:`cli` so that the command line can choose, before anything imports a check
type, whether this process goes without pydantic (``serve``, see :mod:`stubs`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import REGISTRY

from healthgate_sidecar import connections, engine, logs, redact, render
from healthgate_sidecar.server import ENGINE, RELOADER, create_app

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig

# While a worker renders a big body, every time the loop gives up the GIL (each socket call)
# it waits up to this long to get it back: Python's default of 5 ms made a probe wait tens of
# milliseconds behind a /metrics render. 0.5 ms bounds that wait at the cost of more GIL
# hand-overs, which only happen while two threads run Python at once.
SWITCH_INTERVAL = 0.0005
EXIT_READY, EXIT_NOT_READY = 0, 1


def check(config: SidecarConfig, *, as_json: bool) -> int:
    logs.configure(fmt=config.log_format, level="error")  # the table says it all
    eng = asyncio.run(engine.check_once(config))
    comps = eng.components()
    if as_json:
        body = render.health(comps, eng.overall, ready=eng.ready, full=True)
        print(json.dumps(redact.scrub_data(body), indent=2))  # values scrubbed: still JSON
    else:
        print(redact.scrub(render.table(comps)))
        print(f"\noverall: {eng.overall.status}, {'ready' if eng.ready else 'NOT ready'}")
    return EXIT_READY if eng.ready else EXIT_NOT_READY


async def _serve(config: SidecarConfig, path: Path, digest: str, host: str, port: int) -> int:
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(config, registry=REGISTRY, config_path=path, config_digest=digest)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=connections.IDLE_SECONDS
    )
    await runner.setup()
    limit = connections.cap()
    assert runner.server is not None  # set by setup()
    connections.guard(runner.server, limit=limit)
    site = web.TCPSite(runner, host, port, backlog=connections.BACKLOG)
    await site.start()
    # With --port 0 the kernel picks the port (race-free for tests and tools): log the real one.
    port = runner.addresses[0][1] if runner.addresses else port
    deps = len(config.dependencies)
    logs.event("listening", host=host, port=port, dependencies=deps, maxConnections=limit)
    return await _run(app, runner, config)


async def _run(app: web.Application, runner: web.AppRunner, config: SidecarConfig) -> int:
    """Serve until SIGTERM/SIGINT, then drain; SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app[RELOADER].request)
    await stop.wait()
    eng = app[ENGINE]
    eng.begin_drain()  # readiness false at once, so the Service stops sending traffic
    stop.clear()
    drain = eng.config.drain_seconds if eng.config is not None else config.drain_seconds
    second = asyncio.ensure_future(stop.wait())  # a second signal cuts the drain short
    await asyncio.wait([second], timeout=drain)
    second.cancel()
    logs.event("shutting down")
    await runner.cleanup()
    return 0


def serve(config: SidecarConfig, *, path: Path, digest: str, host: str, port: int) -> int:
    """Run until SIGTERM; ``digest`` is of the bytes of ``path`` that ``config`` came from."""
    logs.configure(fmt=config.log_format, level=config.log_level)
    try:
        return asyncio.run(_serve(config, path, digest, host, port))
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        print(f"error: cannot serve on {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_NOT_READY

"""Command line: ``serve`` runs the sidecar, ``check`` runs every check once, ``schema`` prints
the config contract's JSON schema.

Exit codes: 0 ready (or clean shutdown), 1 not ready, 2 invalid config or usage. An invalid
config prints one ``path: problem`` line per problem and never a traceback.

Signals of ``serve``: SIGTERM and SIGINT drain (readiness false for ``drainSeconds``, a second
signal cuts it short), SIGHUP reloads the config file now (as Prometheus does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from prometheus_client import REGISTRY

from healthgate_sidecar import (
    __version__,
    connections,
    contract,
    engine,
    logs,
    redact,
    render,
    wire,
)
from healthgate_sidecar.contract import ConfigError, SidecarConfig
from healthgate_sidecar.server import ENGINE, RELOADER, create_app

DEFAULT_PORT = wire.DEFAULT_PORT
# While a worker renders a big body, every time the loop gives up the GIL (each socket call)
# it waits up to this long to get it back: Python's default of 5 ms made a probe wait tens of
# milliseconds behind a /metrics render. 0.5 ms bounds that wait at the cost of more GIL
# hand-overs, which only happen while two threads run Python at once.
SWITCH_INTERVAL = 0.0005
EXIT_READY, EXIT_NOT_READY, EXIT_INVALID = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=wire.PROGRAM, description="Dependency health checks for an app's pod."
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        wire.CONFIG_FLAG,
        default=os.environ.get("HEALTHGATE_CONFIG"),
        help="config file, YAML or JSON (env HEALTHGATE_CONFIG)",
    )
    # The operator's injection writes this command line with wire.serve_command/serve_args.
    serve = sub.add_parser(wire.SERVE, parents=[config], help="run checks and serve probes")
    serve.add_argument(
        wire.HOST_FLAG, default=os.environ.get("HEALTHGATE_HOST", wire.ALL_INTERFACES)
    )
    # A string default goes through type=int too, so a bad HEALTHGATE_PORT is a usage error.
    serve.add_argument(
        wire.PORT_FLAG, type=int, default=os.environ.get("HEALTHGATE_PORT", str(DEFAULT_PORT))
    )
    check = sub.add_parser("check", parents=[config], help="run every check once and report")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("schema", help="print the config JSON schema (for the CRD)")
    return parser


def _load(path: str | None) -> SidecarConfig | None:
    if path is None:
        print("<args>: --config or HEALTHGATE_CONFIG is required", file=sys.stderr)
        return None
    try:
        return contract.load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:  # problems name fields, never values (tested)
            print(problem, file=sys.stderr)
        return None


def _check(config: SidecarConfig, *, as_json: bool) -> int:
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


async def _serve(config: SidecarConfig, path: Path, host: str, port: int) -> int:
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(config, registry=REGISTRY, config_path=path)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        print(contract.dumps_schema())
        return 0
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    if args.command == "check":
        return _check(config, as_json=args.json)
    logs.configure(fmt=config.log_format, level=config.log_level)
    try:
        return asyncio.run(_serve(config, Path(args.config), args.host, args.port))
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_NOT_READY


if __name__ == "__main__":
    sys.exit(main())

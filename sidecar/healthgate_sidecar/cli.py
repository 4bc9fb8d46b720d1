"""Command line: ``serve`` runs the sidecar, ``check`` runs every check once, ``schema`` prints
the config contract's JSON schema.

Exit codes: 0 ready (or clean shutdown), 1 not ready, 2 invalid config or usage. An invalid
config prints one ``path: problem`` line per problem and never a traceback.

Signals of ``serve``: SIGTERM and SIGINT drain (readiness false for ``drainSeconds``, a second
signal cuts it short), SIGHUP reloads the config file now (as Prometheus does).

``serve`` never loads pydantic (~13 MiB of every pod): it validates its config, at start and at
each reload, in a short-lived child process (:mod:`validation`, :mod:`stubs`). So this module
imports nothing that imports a check type; :mod:`commands` does the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from healthgate_sidecar import __version__, optional, stubs, wire

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig

DEFAULT_PORT = wire.DEFAULT_PORT
EXIT_READY, EXIT_NOT_READY, EXIT_INVALID = 0, 1, 2
# aiohttp imports aiodns (and pycares, ~1.3 MiB) where installed, only to pick a default
# resolver; every client of the sidecar uses its own threaded one (checks/_httpclient.py).
SERVING_WITHOUT = ("aiodns",)


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


def _load(path: str | None) -> tuple[str, SidecarConfig] | None:
    """(digest of the bytes, config), or None after printing the problems."""
    from healthgate_sidecar import validation  # noqa: PLC0415 - after stubs.prefer()

    if path is None:
        print("<args>: --config or HEALTHGATE_CONFIG is required", file=sys.stderr)
        return None
    try:
        digest, data = validation.read(path)
        return digest, validation.parse(data, path)
    except validation.ConfigError as exc:
        for problem in exc.problems:  # problems name fields, never values (tested)
            print(problem, file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from healthgate_sidecar import contract  # noqa: PLC0415 - pydantic, for this command only

        print(contract.dumps_schema())
        return 0
    if args.command == wire.SERVE:
        stubs.prefer()  # before any check type is imported: see stubs
    loaded = _load(args.config)
    if loaded is None:
        return EXIT_INVALID
    digest, config = loaded
    with optional.without(*SERVING_WITHOUT):
        from healthgate_sidecar import commands  # noqa: PLC0415 - after stubs.prefer()

    if args.command == "check":
        return commands.check(config, as_json=args.json)
    path = Path(args.config)
    return commands.serve(config, path=path, digest=digest, host=args.host, port=args.port)


if __name__ == "__main__":
    sys.exit(main())

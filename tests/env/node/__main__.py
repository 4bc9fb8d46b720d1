"""``python -m tests.env.node --kubeconfig K --name N --workdir W``: run a local node until SIGTERM.

Tests start it through :class:`tests.env.node.launcher.LocalNode`; ``make demo`` can do the same.
It writes ``W/ready`` once the Node is registered and the pods bound to it are adopted, logs to
stderr, and on SIGTERM or SIGINT stops every container process before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from tests.env.node import agent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.env.node", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="admin kubeconfig")
    parser.add_argument("--name", default="local-node", help="the Node's name")
    parser.add_argument("--workdir", type=Path, required=True, help="pod files and logs")
    parser.add_argument(
        "--backoff",
        type=float,
        default=10.0,
        help="seconds before the second restart of a crashing container, doubling up to 300 "
        "(the kubelet's 10 s by default)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser


async def _serve(node: agent.NodeAgent) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.create_task(node.run())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, main.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await main
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    node = agent.NodeAgent(args.kubeconfig, args.name, args.workdir, backoff=args.backoff)
    asyncio.run(_serve(node))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The operator's CPU per pod in a status round, part by part, and the floor of one HTTP exchange.

No cluster: the sidecars are the SIMULATED fleet (``bench/_sidecar_fleet.py``, its own process,
so its CPU is not counted here). CPU is this process's (``time.process_time``), not wall time,
because the machine is shared and the fleet runs on the same cores.

Parts, each per pod:
- ``HealthReader.many``: what a round spends asking sidecars (connect, request, answer, JSON);
- the same with cProfile's top entries, to see where it goes;
- floor: one blocking loopback exchange (socket, connect, send, recv, close) with no event loop,
  the least any Python HTTP client on this machine can cost; the status goal's budget is
  2 s / 10,000 pods = 0.2 ms of wall time per pod, on one core.

Run: ``python -m bench.operator_status_cost [PODS]`` (default 2,000).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import socket
import subprocess
import sys
import time

from bench._sidecar_fleet import address
from healthgate_operator import health_reader
from tests.env import common

REPEAT = 3


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def floor(targets: list[tuple[str, int]]) -> float:
    """CPU seconds per exchange of a bare blocking client (no event loop, no parsing)."""
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    began = time.process_time()
    for ip, port in targets:
        with socket.create_connection((ip, port), timeout=5) as sock:
            sock.sendall(request)
            while b"}}}" not in sock.recv(65536):  # the fleet's body ends the components
                pass
    return (time.process_time() - began) / len(targets)


async def reader_round(targets: list[tuple[str, int]]) -> tuple[float, int]:
    """CPU seconds per pod of one ``many`` over every target, and how many answered."""
    reader = health_reader.HealthReader(timeout=5.0, concurrency=64)
    began = time.process_time()
    answers = await reader.many(targets)
    return (time.process_time() - began) / len(targets), sum(a is not None for a in answers)


def profile(targets: list[tuple[str, int]]) -> None:
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(reader_round(targets))
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(14)


def main() -> None:
    pods = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    port, control = common.free_port(), common.free_port()
    fleet = subprocess.Popen(
        [sys.executable, "-m", "bench._sidecar_fleet", str(pods), str(port), str(control)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        assert fleet.stdout.readline().strip() == "ready"
        targets = [(address(i), port) for i in range(pods)]
        print(f"SIMULATION: one process answers /health for {pods} pods ({load()})")
        for _ in range(REPEAT):
            per_pod, answered = asyncio.run(reader_round(targets))
            print(f"  HealthReader.many          {1000 * per_pod:6.3f} ms CPU per pod "
                  f"({answered} of {pods} answered)")  # fmt: skip
        for _ in range(REPEAT):
            print(f"  floor: blocking exchange   {1000 * floor(targets):6.3f} ms CPU per pod "
                  "(budget: 0.2 ms of wall time per pod)")  # fmt: skip
        if "--profile" in sys.argv:
            profile(targets)
        print(f"  ({load()})")
    finally:
        fleet.kill()
        fleet.wait()


if __name__ == "__main__":
    main()

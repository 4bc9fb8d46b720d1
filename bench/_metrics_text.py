"""Reading the operator's and the API server's Prometheus text, and a process's CPU time.

Shared by the status benchmarks; plain parsing, no client library (the figures need a few
counters and histograms, summed over processes when the operator is sharded).
"""

from __future__ import annotations

import os
from pathlib import Path


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counter(text: str, name: str, match: str = "") -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and match in line and not line.startswith("#")
    )


def histogram(text: str, name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.split()[-1])  # summed over processes
    return out


def over(before: dict[float, float], after: dict[float, float], bound: float) -> tuple[int, int]:
    """(samples above ``bound``, all samples) between two readings of a histogram."""
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    under = after.get(bound, 0) - before.get(bound, 0)
    return int(total - under), int(total)

"""Run the benchmarks: ``python -m bench [PREFIX ...]`` (``make bench`` runs them all).

Each ``bench/<name>.py`` with a ``main()`` runs in its own process, so one benchmark's servers
and memory never colour the next one's figures; a failing benchmark is reported and the others
still run. ``python -m bench sidecar`` runs only the sidecar's, ``operator`` only the operator's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGGREGATES = {"sidecar_all"}  # would run the sidecar benchmarks twice


def modules(prefixes: list[str]) -> list[str]:
    names = sorted(
        p.stem
        for p in HERE.glob("*.py")
        if not p.stem.startswith("_") and p.stem not in AGGREGATES and "def main(" in p.read_text()
    )
    return [n for n in names if not prefixes or any(n.startswith(p) for p in prefixes)]


def main() -> int:
    failed = []
    for name in modules(sys.argv[1:]):
        print(f"\n=== bench.{name}", flush=True)
        began = time.monotonic()
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode
        print(f"=== bench.{name}: exit {code} after {time.monotonic() - began:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

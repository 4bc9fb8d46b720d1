"""Every sidecar benchmark in turn: probe throughput, memory, CPU, HTTP check rate.

Run: ``python -m bench.sidecar_all``. Prints figures; asserts nothing.
"""

from __future__ import annotations

from bench import sidecar_cpu, sidecar_http_rate, sidecar_memory, sidecar_readyz

BENCHES = (sidecar_readyz, sidecar_memory, sidecar_cpu, sidecar_http_rate)


def main() -> None:
    for bench in BENCHES:
        bench.main()


if __name__ == "__main__":
    main()

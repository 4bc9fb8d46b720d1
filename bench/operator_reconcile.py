"""Reconcile latency and throughput: gate created -> its ConfigMap exists.

1. One gate at a time (50 gates, sequential): time from the create request to the ConfigMap's
   ADDED watch event; p50/p99.
2. 200 gates created at once (8 client threads): time until every ConfigMap exists and until
   every gate reports Reconciled=True.

Run: ``python -m bench.operator_reconcile``. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench._operator_env import (
    GATES,
    Api,
    Env,
    Json,
    environment,
    gate,
    percentiles,
    wait_count,
)

SEQUENTIAL = 50
BULK = 200


def sequential(env: Env) -> None:
    ns = env.namespace("seq")
    api = Api(env.cluster)
    seen: dict[str, float] = {}
    lock = threading.Condition()

    def on_event(event: Json) -> bool:
        if event["type"] == "ADDED":
            with lock:
                seen[event["object"]["metadata"]["name"]] = time.monotonic()
                lock.notify_all()
        return True

    api.watch(f"/api/v1/namespaces/{ns}/configmaps", on_event)
    time.sleep(0.5)  # let the watch connect
    samples = []
    for i in range(SEQUENTIAL):
        name = f"g{i:03d}"
        started = time.monotonic()
        status, _ = api.call("POST", GATES.format(ns=ns), gate(name, ns))
        assert status == 201, status
        key = f"{name}-healthgate"
        with lock:
            lock.wait_for(lambda: key in seen, timeout=30)  # noqa: B023 - called right here
        samples.append(seen[key] - started)
    print(f"create -> ConfigMap, one gate at a time: {percentiles(samples)}")


def bulk(env: Env) -> None:
    ns = env.namespace("bulk")
    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "api"):
            local.api = Api(env.cluster)
        status, _ = local.api.call("POST", GATES.format(ns=ns), gate(f"b{i:03d}", ns))
        assert status == 201, status

    probe = Api(env.cluster)

    def configmaps() -> int:
        path = f"/api/v1/namespaces/{ns}/configmaps?labelSelector=healthgate.io/gate"
        _, body = probe.call("GET", path)
        return len(body.get("items", []))

    def reconciled() -> int:
        _, body = probe.call("GET", GATES.format(ns=ns))
        return sum(
            any(
                c["type"] == "Reconciled" and c["status"] == "True"
                for c in (g.get("status") or {}).get("conditions", [])
            )
            for g in body.get("items", [])
        )

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(BULK)))
    created = time.monotonic() - started
    wait_count("ConfigMaps", configmaps, BULK, timeout=300)
    all_cms = time.monotonic() - started
    wait_count("Reconciled", reconciled, BULK, timeout=300)
    all_ready = time.monotonic() - started
    print(
        f"{BULK} gates created at once: created in {created:.2f} s, all ConfigMaps after "
        f"{all_cms:.2f} s, all Reconciled=True after {all_ready:.2f} s "
        f"({BULK / all_ready:.0f} gates/s)"
    )


def main() -> None:
    with environment() as env:
        env.start_operator(status_interval=30)
        sequential(env)
        bulk(env)


if __name__ == "__main__":
    main()

"""Admission on its own thread vs on a busy event loop, and the GIL switch interval (issue 16).

No cluster. One process serves reviews with Kopf's ``WebhookServer`` (TLS with a self-signed
certificate, as the operator does), either on its event loop or from ``AdmissionThread``, while
that event loop runs a stand-in for the status rounds without pause: decode a page of 100 pods
(one C call that holds the GIL), build per-pod reports in Python, yield. Each review is decided
by the real admission builder against 100 gates. Another process sends 50 reviews a second on
one kept-alive HTTPS connection. Variants run in fresh processes, interleaved, twice.

Run: ``python -m bench.operator_admission_gil``. Prints p50/p99 per variant beside the 25 ms goal
with the load average (the machine may be shared); asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import multiprocessing
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonpatch
import kopf

from bench._operator_env import gate, percentiles
from bench.operator_webhook import review
from healthgate_operator import admission_thread, certs
from healthgate_operator.builders import admission, injection
from healthgate_operator.gatecache import slim
from tests.env.common import free_port

RATE = 50
REVIEWS = 500
VARIANTS = [("loop", 0.005), ("thread", 0.005), ("thread", 0.001), ("thread", 0.0005)]
ROUNDS = 2
DEFAULTS = injection.SidecarDefaults(image="ghcr.io/healthgate/healthgate:0.1.0", port=8089)
PAGE = json.dumps(
    {"items": [gate(f"p{i}", "ns") | {"status": {"podIP": "127.0.0.1"}} for i in range(100)]}
)


def gates() -> list[dict[str, Any]]:
    out = []
    for i in range(100):
        body = gate(f"g{i:03d}", "ns", app="api" if i == 0 else f"other-{i}")
        body["metadata"]["uid"] = f"uid-{i}"
        body["status"] = {"conditions": [{"type": "Reconciled", "status": "True"}]}
        out.append(slim(body))
    return out


async def rounds_stand_in() -> None:
    while True:
        items = json.loads(PAGE)["items"]
        _ = [{"pod": i["metadata"]["name"], "spec": dict(i["spec"])} for i in items]
        await asyncio.sleep(0)


def reviewer(known: list[dict[str, Any]]) -> kopf.WebhookFn:
    async def answer(request: Any, **_: Any) -> Any:
        pod = request["request"]["object"]
        decision = admission.decide(pod, "ns", known, defaults=DEFAULTS, allowed_images=["*"])
        ops = jsonpatch.JsonPatch.from_diff(pod, decision.pod or pod).patch
        patch = base64.b64encode(json.dumps(ops).encode()).decode()
        uid = request["request"]["uid"]
        return {"response": {"uid": uid, "allowed": True, "patch": patch}}

    return answer


def client(port: int, out: Any) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed; the TLS cost is still paid
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    samples = []
    start = time.monotonic()
    for i in range(REVIEWS):
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))
        body = json.dumps(review("ns")).encode()
        began = time.perf_counter()
        conn.request("POST", "/inject", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
        samples.append(time.perf_counter() - began)
    out.put(samples)


async def variant(mode: str, workdir: Path) -> list[float]:
    cert, key = certs.write_self_signed(workdir, ["127.0.0.1"])
    port = free_port()
    server = kopf.WebhookServer(addr="127.0.0.1", port=port, certfile=cert, pkeyfile=key)
    fn = reviewer(gates())
    hog = asyncio.create_task(rounds_stand_in())
    if mode == "loop":
        configs = server(fn)
    else:
        configs = admission_thread.AdmissionThread(server, local=["inject"]).configs(fn)
    await anext(configs)
    results: Any = multiprocessing.Queue()
    sender = multiprocessing.Process(target=client, args=(port, results))
    sender.start()
    while sender.is_alive() and results.empty():
        await asyncio.sleep(0.05)
    samples: list[float] = results.get()
    hog.cancel()
    await configs.aclose()  # type: ignore[attr-defined]
    return samples


def run_one(mode: str, interval: float) -> None:
    sys.setswitchinterval(interval)
    admission_thread.SWITCH_INTERVAL = interval  # what AdmissionThread sets when it starts
    with tempfile.TemporaryDirectory(prefix="bench-gil-") as workdir:
        samples = asyncio.run(variant(mode, Path(workdir)))
    where = "operator's loop" if mode == "loop" else "own thread"
    print(json.dumps({"where": where, "samples": samples}))


def main() -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"reviews at {RATE}/s while the operator's loop runs without pause (load average {load})")
    for _ in range(ROUNDS):
        for mode, interval in VARIANTS:
            out = subprocess.run(
                [sys.executable, "-m", "bench.operator_admission_gil", mode, str(interval)],
                capture_output=True, text=True, check=True, timeout=300,
            ).stdout  # fmt: skip
            result = json.loads(out.strip().splitlines()[-1])
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"  {result['where']:16s} switch interval {interval * 1000:.1f} ms: "
                f"{percentiles(result['samples'])}   goal p99 < 25 ms (load average {load})"
            )


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_one(sys.argv[1], float(sys.argv[2]))
    else:
        main()

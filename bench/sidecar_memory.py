"""Memory: the sidecar's resident set size after start, by the drivers its config loads.

Drivers are imported only for the types in use, so the figure depends on the config: no
dependency at all, the common redis+http+tcp trio, the eight types of issue 16 ("every driver"
then: redis, http, tcp, neo4j, postgres, llm, dns, env), every type, and each type alone (an
http JSONPath assertion too). RSS is read after every dependency has a first result (so clients
exist), plus a second. Neo4j, PostgreSQL and the catalog's servers are pointed at closed ports:
their driver and client are loaded all the same, without starting those servers. Goals (issue
16): < 40 MiB for redis+http+tcp, < 75 MiB with the eight types.

The serving process never loads pydantic: its config is validated in a short-lived child
(``healthgate_sidecar.validation``), whose peak RSS is printed too (it is gone once the server
runs, but the pod's memory limit must hold it beside the server for that second).

The floor is measured the same way: the smallest aiohttp server that serves ``/livez`` and a
prometheus_client ``/metrics``, started and read after a second. Then what each import adds on
top of the previous ones (cumulative, in the sidecar's order), which is where the memory goes.

Run: ``python -m bench.sidecar_memory``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._sidecar_env import CORE_UNDER_TEST, nginx, pin, rss_mib, sidecar, table, wait_started
from healthgate_sidecar import checks
from tests.env import common, redis


def trio(redis_url: str, target: str) -> list[dict[str, Any]]:
    port = int(target.rsplit(":", 1)[1])
    return [
        {"name": "cache", "type": "redis", "redis": {"url": redis_url}},
        {"name": "api", "type": "http", "http": {"url": target + "/ok"}},
        {"name": "port", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": port}},
    ]


def every_type(redis_url: str, target: str) -> list[dict[str, Any]]:
    closed = common.free_port()
    return [
        *trio(redis_url, target),
        {"name": "graph", "type": "neo4j", "critical": False,
         "neo4j": {"uri": f"bolt://127.0.0.1:{closed}", "passwordFromEnv": "HOME"}},
        {"name": "db", "type": "postgres", "critical": False,
         "postgres": {"dsn": f"postgresql://u:p@127.0.0.1:{closed}/db"}},
        {"name": "llm", "type": "llm", "llm": {"baseUrl": target + "/v1"}},
        {"name": "resolver", "type": "dns", "critical": False, "dns": {"name": "localhost"}},
        {"name": "mail", "type": "env", "env": {"names": ["HOME"]}},
        *(dep for deps in alone(target).values() for dep in deps),
    ]  # fmt: skip


ISSUE_16_TYPES = 8  # the first eight of every_type(): "every driver" when issue 16 was written


def each_alone(redis_url: str, target: str) -> dict[str, list[dict[str, Any]]]:
    """Every type, each measured in a sidecar of its own (http both plain and with JSONPath)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for dep in every_type(redis_url, target):
        found.setdefault(dep["type"], [dep])
    return {**found, **alone(target)}


def alone(target: str) -> dict[str, list[dict[str, Any]]]:
    """One dependency of each catalog type, each measured in a sidecar of its own."""
    closed = common.free_port()
    local = {"host": "127.0.0.1", "port": closed}
    assertion = {"jsonPath": "$.status", "equals": "up"}
    return {
        "grpc": [{"name": "grpc", "type": "grpc", "critical": False, "grpc": local}],
        "mysql": [{"name": "mysql", "type": "mysql", "critical": False,
                   "mysql": {**local, "username": "u"}}],
        "amqp": [{"name": "amqp", "type": "amqp", "critical": False,
                  "amqp": {"url": f"amqp://127.0.0.1:{closed}/"}}],
        "smtp": [{"name": "smtp", "type": "smtp", "critical": False, "smtp": local}],
        "http + JSONPath assertion": [{"name": "json", "type": "http",
            "http": {"url": target + "/ok", "assertions": [assertion]}}],
        # kafka: aiokafka; s3: botocore's SigV4 signer; oidc: nothing beyond aiohttp.
        "kafka": [{"name": "kafka", "type": "kafka", "critical": False,
                   "kafka": {"bootstrapServers": [f"127.0.0.1:{closed}"]}}],
        "oidc": [{"name": "oidc", "type": "oidc", "critical": False,
                  "oidc": {"issuer": f"http://127.0.0.1:{closed}/"}}],
        "s3": [{"name": "s3", "type": "s3", "critical": False,
                "s3": {"endpoint": f"http://127.0.0.1:{closed}", "bucket": "media",
                       "accessKeyId": "AK", "secretAccessKeyFromEnv": "HOME"}}],
    }  # fmt: skip


def measure(deps: list[dict[str, Any]]) -> float:
    with sidecar({"dependencies": deps}) as proc:
        wait_started(proc)
        time.sleep(1)
        return rss_mib(proc.pid)


# The floor: nothing but an aiohttp server and prometheus_client's exposition.
FLOOR_SERVER = """
import sys
sys.modules["aiodns"] = None  # as the sidecar (and the image, which has no aiodns)
from aiohttp import web
from prometheus_client import REGISTRY, Counter, exposition
hits = Counter("hits", "Requests.")
async def livez(request):
    hits.inc()
    return web.Response(text="ok")
async def metrics(request):
    return web.Response(body=exposition.generate_latest(REGISTRY))
app = web.Application()
app.router.add_get("/livez", livez)
app.router.add_get("/metrics", metrics)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@contextlib.contextmanager
def floor_server() -> Iterator[int]:
    port = common.free_port()
    popen = subprocess.Popen(
        [sys.executable, "-c", FLOOR_SERVER, str(port)],
        preexec_fn=lambda: pin(CORE_UNDER_TEST),  # noqa: PLW1509
    )
    try:
        deadline = time.monotonic() + 30
        while not common.port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield popen.pid
    finally:
        popen.terminate()
        popen.wait(10)


def floor() -> float:
    with floor_server() as pid:
        time.sleep(1)
        return rss_mib(pid)


# Cumulative: each step imports on top of the previous ones, as the sidecar would.
IMPORT_STEPS = (
    ("python (bare)", ""),
    ("+ asyncio (ssl, socket, concurrent.futures)", "asyncio"),
    ("+ aiohttp (server and client)", "aiohttp.web"),
    ("+ prometheus_client", "prometheus_client"),
    (
        "+ the sidecar's serving code (engine, server; no check type yet)",
        "healthgate_sidecar.commands",
    ),
    # Each check type's module loads with its first dependency (checks.declared).
    ("+ redis check (RESP itself; redis-py's import was +6.4)", "healthgate_sidecar.checks.redis"),
    ("+ http and tcp checks", "healthgate_sidecar.checks.http,healthgate_sidecar.checks.tcp"),
    # The drivers themselves: since each type is declared in its checks/ module, importing that
    # module no longer loads its driver (its factory does).
    ("+ postgres driver (psycopg)", "psycopg"),
    ("+ dns (dnspython)", "dns.asyncresolver"),
    (
        "+ neo4j driver, its import-time tables dropped as the check does",
        "neo4j,=drop-neo4j-tables",
    ),
    ("+ grpc (grpcio, grpc_health, protobuf)", "grpc.aio,grpc_health.v1.health_pb2_grpc"),
    ("+ mysql driver (asyncmy)", "asyncmy"),
    ("+ amqp driver (aiormq, pamqp)", "aiormq"),
    ("+ smtp driver (aiosmtplib)", "aiosmtplib"),
    ("+ JSONPath (python-jsonpath)", "jsonpath"),
    ("+ kafka driver (aiokafka)", "aiokafka.conn"),
    ("+ s3 signer (botocore.auth)", "botocore.auth"),
)
STEPPER = """
import importlib, sys
from healthgate_sidecar import optional, stubs
stubs.prefer()  # as serve does: the check types' models without pydantic
sys.modules["aiodns"] = None  # as serve imports aiohttp (cli.SERVING_WITHOUT)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4 / 1024
for step in sys.argv[1:]:
    for name in filter(None, step.split(",")):
        if name == "=drop-neo4j-tables":
            from healthgate_sidecar.checks import neo4j
            neo4j._drop_tables()
            continue
        with optional.without("numpy", "pandas", "pyarrow"):  # as the neo4j check imports it
            importlib.import_module(name)
    print(rss(), len(sys.modules))
"""


def import_steps() -> list[tuple[str, float, int]]:
    out = subprocess.run(
        [sys.executable, "-c", STEPPER, *(modules or "," for _, modules in IMPORT_STEPS)],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    readings = [line.split() for line in out if line]
    labels = [label for label, _ in IMPORT_STEPS]
    return [(label, float(r[0]), int(r[1])) for label, r in zip(labels, readings, strict=True)]


IMPORTS_ONLY = """
import sys
from healthgate_sidecar import stubs
stubs.prefer()
sys.modules["aiodns"] = None
import healthgate_sidecar.commands
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def imports_only() -> float:
    """The interpreter plus aiohttp, prometheus_client and the serving code: any config's floor."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS_ONLY], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


VALIDATOR = """
import resource, sys
from healthgate_sidecar import validation
sys.argv = ["validation", "<bench>"]
validation.main()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def validator_peak(deps: list[dict[str, Any]]) -> float:
    """Peak RSS of the child that validates a config, as ``serve`` runs it at start and reload."""
    config = json.dumps({"dependencies": deps}).encode()
    done = subprocess.run(
        [sys.executable, "-c", VALIDATOR], input=config, capture_output=True, check=True
    )
    assert b'"config"' in done.stdout, done.stdout[:500]  # a valid config, fully validated
    return int(done.stderr.split()[-1]) / 1024  # ru_maxrss is in KiB


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="healthgate-bench-redis-") as tmp, nginx() as target:
        server = redis.start(Path(tmp))
        try:
            every = every_type(server.url, target)
            rows = [
                ("floor: bare aiohttp server + prometheus_client", "-", floor(), "-"),
                ("sidecar, imports only, not serving", 0, imports_only(), "-"),
                ("sidecar, no dependency", 0, measure([]), "-"),
                ("sidecar, redis + http + tcp", 3, measure(trio(server.url, target)), "< 40"),
                ("sidecar, issue 16's 8 types (every driver then)", ISSUE_16_TYPES,
                 measure(every[:ISSUE_16_TYPES]), "< 75"),
                (f"sidecar, every type ({len(checks.TYPES)})", len(every), measure(every), "-"),
                ("validator child, every type (peak, gone after)", len(every),
                 validator_peak(every), "-"),
            ]  # fmt: skip
            rows += [(f"sidecar, {name} alone", len(deps), measure(deps), "-")
                     for name, deps in each_alone(server.url, target).items()]  # fmt: skip
        finally:
            server.stop()
    table(
        "Sidecar resident memory after start",
        ("process", "dependencies", "RSS MiB", "goal MiB"),
        [(name, n, f"{mib:.1f}", goal) for name, n, mib, goal in rows],
    )
    rows_by_step, before = [], None
    for label, mib, loaded in import_steps():
        rows_by_step.append((label, f"{mib:.1f}", f"{mib - (before or mib):+.1f}", loaded))
        before = mib
    table(
        "Where it goes: RSS after each import, cumulative (not serving)",
        ("import", "RSS MiB", "added MiB", "modules loaded"),
        rows_by_step,
    )


if __name__ == "__main__":
    main()

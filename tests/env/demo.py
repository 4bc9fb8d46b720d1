"""``make demo``: the local environment and the sidecar doing their job, narrated step by step.

It starts real Redis, PostgreSQL, Neo4j, Prometheus and a Kubernetes control plane, runs a
HealthGate sidecar that checks them, has Prometheus scrape it, then stops Redis to show readiness
failing while liveness stays green, and starts it again to show recovery. Everything is torn
down at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.env import common, kube, neo4j, postgres, prometheus, redis

INTERVAL = 1.0  # seconds between checks: short so the demo moves at a watchable pace


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback URLs only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sidecar_config(
    r: redis.RedisServer,
    pg: postgres.PostgresServer,
    n: neo4j.Neo4jServer,
    prom: prometheus.PrometheusServer,
) -> dict[str, Any]:
    """Secrets reach the sidecar through environment variables, never through the file."""
    common_fields = {"intervalSeconds": INTERVAL, "timeoutSeconds": 0.5, "failureThreshold": 2}
    return {
        "dependencies": [
            {
                "name": "cache",
                "type": "redis",
                **common_fields,
                "redis": {"urlFromEnv": "DEMO_REDIS_URL"},
            },
            {
                "name": "db",
                "type": "postgres",
                **common_fields,
                "postgres": {"dsnFromEnv": "DEMO_PG_DSN"},
            },
            {
                "name": "graph",
                "type": "neo4j",
                **common_fields,
                "neo4j": {"uri": n.uri, "username": n.user, "passwordFromEnv": "DEMO_NEO4J_PW"},
            },
            {
                "name": "metrics-api",
                "type": "http",
                "critical": False,
                **common_fields,
                "http": {"url": f"{prom.url}/-/ready", "expectedStatus": [200]},
            },
        ],
        "drainSeconds": 0,
    }


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"demo: timed out waiting for {what}")


def show(base: str, path: str) -> None:
    code, body = get(base + path)
    print(f"$ curl {base}{path}   -> HTTP {code}")
    print("  " + body.strip().replace("\n", "\n  "))


def prom_query(prom: prometheus.PrometheusServer, query: str) -> list[dict[str, Any]]:
    _, body = get(f"{prom.url}/api/v1/query?query={urllib.parse.quote(query)}")
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def run(root: Path, keep: bool) -> None:
    step("Starting the local environment (real servers on loopback)")
    cluster = kube.start(root / "kube")
    r = redis.start(root / "redis")
    pg = postgres.start(root / "postgres")
    n = neo4j.start(root / "neo4j")
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    prom = prometheus.start(
        root / "prometheus",
        "global: {scrape_interval: 2s}\nscrape_configs:\n  - job_name: healthgate-sidecar\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n",
    )
    print(f"  kube-apiserver {cluster.server}  (kubeconfig {cluster.kubeconfig})")
    print(f"  redis 127.0.0.1:{r.port}  postgres 127.0.0.1:{pg.port}  neo4j {n.uri}")
    print(f"  prometheus {prom.url}")
    print(cluster.kubectl("get", "namespaces").stdout)

    step("Running the HealthGate sidecar against them")
    config = root / "sidecar.yaml"
    config.write_text(json.dumps(sidecar_config(r, pg, n, prom), indent=2))
    print(config.read_text())
    env = {"DEMO_REDIS_URL": r.url, "DEMO_PG_DSN": pg.dsn, "DEMO_NEO4J_PW": n.password}
    binary = shutil.which("healthgate-sidecar") or str(
        Path(sys.executable).parent / "healthgate-sidecar"
    )
    sidecar = common.spawn(
        "sidecar",
        [binary, "serve", "--config", config, "--host", "127.0.0.1", "--port", str(port)],
        log_dir=root,
        env=env,
    )
    try:
        wait_for("the sidecar to be ready", lambda: get(base + "/readyz")[0] == 200)
        show(base, "/readyz?verbose")
        show(base, "/livez")
        code, body = get(base + "/health")
        print(f"$ curl {base}/health   -> HTTP {code}")
        for name, comp in json.loads(body)["components"].items():
            print(
                f"  {name:<12} {comp['status']:<10} {comp['responseTimeMs']:>7} ms  "
                f"{comp.get('message') or ''}"
            )

        step("Stopping Redis: readiness fails after the threshold, liveness stays green")
        r.stop()
        took = wait_for("readiness to fail", lambda: get(base + "/readyz")[0] == 503)
        print(
            f"  /readyz turned 503 {took:.1f}s after Redis stopped "
            f"(interval {INTERVAL}s x failureThreshold 2 + timeout)"
        )
        show(base, "/readyz?verbose")
        show(base, "/livez")

        step("Starting Redis again: readiness recovers")
        r.start()
        took = wait_for("readiness to recover", lambda: get(base + "/readyz")[0] == 200)
        print(f"  /readyz back to 200 {took:.1f}s after Redis started")
        show(base, "/readyz?verbose")

        step("Prometheus scraped the sidecar")
        wait_for("a scrape", lambda: bool(prom_query(prom, "healthgate_dependency_up")))
        for series in prom_query(prom, "healthgate_dependency_up"):
            print(
                f'  healthgate_dependency_up{{dependency="{series["metric"]["dependency"]}"}}'
                f" = {series['value'][1]}"
            )
        if keep:
            step("Keeping everything running (Ctrl-C to stop)")
            print(
                f"  export KUBECONFIG={cluster.kubeconfig}\n  sidecar {base}/health\n"
                f"  prometheus {prom.url}"
            )
            while True:
                time.sleep(3600)
    finally:
        sidecar.stop()
        for server in (prom, n, pg, r, cluster):
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep everything running")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="healthgate-demo-"))
    root.chmod(0o755)
    try:
        run(root, args.keep)
    except common.EnvMissing as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    except subprocess.SubprocessError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    step(f"Done; logs are in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared setup of the operator benchmarks: a real control plane, the CRDs, the operator process.

Not a benchmark itself (the leading underscore keeps it out of ``bench/operator_*``). Requests go
straight to the API server over HTTPS with the admin client certificate, on a kept-alive
connection, so the figures measure the API server and the operator rather than process starts.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.env import common, kube  # noqa: E402 - after the path fix for `python bench/x.py`

Json = dict[str, Any]
BIN = Path(sys.executable).parent
GATES = "/apis/healthgate.io/v1alpha1/namespaces/{ns}/healthgates"


class Api:
    """A minimal JSON client on one keep-alive HTTPS connection; one per thread."""

    def __init__(self, cluster: kube.KubeCluster) -> None:
        config = json.loads(cluster.kubeconfig.read_text())
        user = config["users"][0]["user"]
        folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
        cert, key = folder / "c.pem", folder / "k.pem"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        self.context = ssl.create_default_context(cafile=str(cluster.ca.cert))
        self.context.load_cert_chain(str(cert), str(key))
        self.host, port = cluster.server.removeprefix("https://").split(":")
        self.port = int(port)
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)

    def call(self, method: str, path: str, body: Json | None = None) -> tuple[int, Json]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.conn.request(method, path, body=payload, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else {})

    def watch(self, path: str, on_event: Callable[[Json], bool]) -> threading.Thread:
        """Stream watch events to ``on_event`` in a thread until it returns False."""

        def run() -> None:
            conn = self._connect()
            conn.request("GET", f"{path}?watch=1&allowWatchBookmarks=false")
            resp = conn.getresponse()
            for line in resp:
                if line.strip() and not on_event(json.loads(line)):
                    break
            conn.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def gate(name: str, namespace: str, app: str = "api") -> Json:
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "dependencies": [
                {
                    "name": "cache",
                    "type": "redis",
                    "redis": {"urlFrom": {"secretKeyRef": {"name": "redis", "key": "url"}}},
                },
                {"name": "site", "type": "http", "http": {"url": "https://example.org/"}},
            ],
        },
    }


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"n={len(ordered)} p50={p50 * 1000:.1f} ms p99={p99 * 1000:.1f} ms "
        f"max={ordered[-1] * 1000:.1f} ms"
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Env:
    cluster: kube.KubeCluster
    workdir: Path
    operator: common.Process | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, input=input).stdout

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        # Pods need the default service account, which the controller-manager creates.
        common.wait_until(
            "default service account",
            lambda: (
                self.cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode
                == 0
            ),
            timeout=30,
        )
        return name

    def start_operator(self, *args: str) -> common.Process:
        self.ports = {k: common.free_port() for k in ("webhook", "metrics", "health")}
        argv: list[str | Path] = [
            BIN / "healthgate-operator",
            "--webhook-host=127.0.0.1",
            f"--webhook-port={self.ports['webhook']}",
            "--listen-host=127.0.0.1",
            f"--metrics-port={self.ports['metrics']}",
            f"--health-port={self.ports['health']}",
            "--log-level=warning",
            *args,
        ]
        env = {"KUBECONFIG": str(self.cluster.kubeconfig)}
        self.operator = common.spawn("healthgate-operator", argv, log_dir=self.workdir, env=env)
        common.wait_until(
            "the operator's webhook",
            self._webhook_registered,
            timeout=60,
            proc=self.operator,
        )
        return self.operator

    def _webhook_registered(self) -> bool:
        proc = self.cluster.kubectl(
            "get", "mutatingwebhookconfiguration", "healthgate.io", "-o", "json", check=False
        )
        if proc.returncode != 0:
            return False
        url = json.loads(proc.stdout)["webhooks"][0]["clientConfig"]["url"]
        return f":{self.ports['webhook']}/" in url and common.port_open(
            "127.0.0.1", self.ports["webhook"]
        )


@contextlib.contextmanager
def environment() -> Iterator[Env]:
    """A fresh control plane with the CRDs and RBAC applied; everything stopped at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="healthgate-bench-"))
    cluster = kube.start(workdir / "kube")
    env = Env(cluster=cluster, workdir=workdir)
    try:
        env.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
        env.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        env.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac.yaml"))
        yield env
    finally:
        if env.operator is not None:
            env.operator.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_count(what: str, count: Callable[[], int], target: int, timeout: float) -> float:
    """Seconds until ``count()`` reaches ``target``."""
    started = time.monotonic()
    while count() < target:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: {count()} of {target} after {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started

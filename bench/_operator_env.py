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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# After the path fix, for `python bench/x.py`:
from tests.env import common, kube  # noqa: E402
from tests.env import operator as operator_env  # noqa: E402
from tests.integration.operator import objects  # noqa: E402

Json = dict[str, Any]
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


SITE: Json = {"name": "site", "type": "http", "http": {"url": "https://example.org/"}}


def gate(name: str, namespace: str, app: str = "api") -> Json:
    """The tests' gate (Redis from a Secret) plus an HTTP dependency: two checks to render."""
    return objects.gate(name, namespace, [objects.REDIS_DEP, SITE], app=app)


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
    operator: operator_env.OperatorProcess | None = None

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

    def start_operator(
        self, *args: str, status_interval: float, prelude: str = ""
    ) -> operator_env.OperatorProcess:
        """The operator as the tests run it: least-privilege token, shared certificate."""
        workdir = self.workdir / "operator"
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = operator_env.service_account_kubeconfig(
            self.cluster, workdir / "operator.kubeconfig"
        )
        self.operator = operator_env.OperatorProcess(
            cluster=self.cluster,
            kubeconfig=kubeconfig,
            workdir=workdir,
            args=["--all-namespaces", "--standalone", *args],
            status_interval=status_interval,
            prelude=prelude,
        )
        self.operator.start()
        return self.operator

    def running(self) -> operator_env.OperatorProcess:
        if self.operator is None:
            raise RuntimeError("start_operator() first")
        return self.operator


@contextlib.contextmanager
def environment() -> Iterator[Env]:
    """A fresh control plane with the CRDs and RBAC applied; everything stopped at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="healthgate-bench-"))
    cluster = kube.start(workdir / "kube")
    env = Env(cluster=cluster, workdir=workdir)
    try:
        operator_env.install(cluster)
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

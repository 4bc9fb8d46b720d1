"""An API server outage longer than Kopf's retry budget: status resumes, liveness tells the truth.

Kopf retries a failed PATCH for 1+1+2+3+5+8+13+21 = 54 s. The outage here lasts 70 s, on a
control plane of its own (stopping the session's API server would disturb the other tests):
kube-apiserver is stopped gracefully and started again with the same flags, port and etcd.

What must hold: the operator's /healthz fails while no status can be written for longer than
``--refresh-stale-after``, and passes again after the API server is back; the gate's status
follows a change made after the outage (a new pod), i.e. its refresh loop survived.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.env import common, kube
from tests.env import operator as operator_env
from tests.env.common import wait_for
from tests.integration.operator import objects

pytestmark = pytest.mark.integration
Json = dict[str, Any]
OUTAGE_SECONDS = 70  # longer than Kopf's 54 s of retries
STALE_AFTER = 15


@pytest.fixture
def own_cluster(env_root: Path) -> Iterator[kube.KubeCluster]:
    cluster = kube.start(env_root / "outage-kube", controllers=False)
    try:
        operator_env.install(cluster)
        yield cluster
    finally:
        cluster.stop()


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def gate_status(cluster: kube.KubeCluster, namespace: str) -> Json:
    proc = cluster.kubectl("get", "hg", "api", "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(proc.stdout).get("status") or {}) if proc.returncode == 0 else {}


def test_status_and_liveness_survive_an_api_outage(
    own_cluster: kube.KubeCluster, env_root: Path
) -> None:
    cluster = own_cluster
    workdir = env_root / "outage-operator"
    workdir.mkdir(parents=True, exist_ok=True)
    op = operator_env.OperatorProcess(
        cluster=cluster,
        kubeconfig=operator_env.service_account_kubeconfig(cluster, workdir / "op.kubeconfig"),
        workdir=workdir,
        args=["--all-namespaces", "--standalone", f"--refresh-stale-after={STALE_AFTER}"],
        status_interval=1,
    )
    ns = "outage"
    cluster.kubectl("create", "namespace", ns)
    # No controller-manager here: the pods' service account is made by hand.
    cluster.kubectl("create", "serviceaccount", "default", "-n", ns)
    op.start()
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(objects.gate("api", ns)))
        cluster.kubectl("apply", "-f", "-", input=json.dumps(objects.pod("before", ns)))
        wait_for(
            "the first pod counted",
            lambda: gate_status(cluster, ns).get("pods", {}).get("total") == 1,
        )
        assert healthz(op.health_port) == 200

        cluster.stop_apiserver()
        seen: set[int] = set()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            seen.add(healthz(op.health_port))
            time.sleep(2)
        cluster.start_apiserver()
        assert op.process is not None
        assert op.process.alive, op.log()[-3000:]
        assert 500 in seen, f"/healthz never failed while no status could be written: {seen}"

        wait_for("/healthz to pass again", lambda: healthz(op.health_port) == 200, timeout=60)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(objects.pod("after", ns)))
        wait_for(
            "the status to count the pod created after the outage",
            lambda: gate_status(cluster, ns).get("pods", {}).get("total") == 2,
            timeout=30,
        )
        assert healthz(op.health_port) == 200
    finally:
        op.stop()
    common.progress(f"operator log: {op.log_path}")

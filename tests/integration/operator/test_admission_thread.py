"""Pod injection is answered off the operator's event loop, so a busy loop cannot delay it.

The operator's loop also runs the status rounds (pod lists, /health exchanges); admission has a
thread and a loop of its own (``admission_thread.py``). Here a signal makes the operator's main
thread sleep for longer than the webhook's ``timeoutSeconds``: a pod created meanwhile must
still get its sidecar. Were admission on that loop, the API server would give up after the
timeout and, with ``failurePolicy: Ignore``, create the pod without the sidecar.

Runs on a control plane of its own: the session's operator serves every namespace too.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import kube
from tests.env import operator as operator_env
from tests.env.common import wait_for
from tests.integration.operator import objects

pytestmark = pytest.mark.integration
NS = "busy"
STALL_SECONDS = 8  # above the chart's webhook timeoutSeconds (5)
# Run before the operator's entry point: SIGUSR1 holds its main thread, where the operator's
# event loop runs, after noting that it did (so the test knows the stall has begun).
STALL = """
import signal as _signal, time as _time
def _stall(*_):
    open({marker!r}, "w").close()
    _time.sleep({seconds})
_signal.signal(_signal.SIGUSR1, _stall)
"""


@pytest.fixture
def own_cluster(env_root: Path) -> Iterator[kube.KubeCluster]:
    cluster = kube.start(env_root / "busy-kube", controllers=False)
    try:
        operator_env.install(cluster)
        cluster.kubectl("create", "namespace", NS)
        # No controller-manager here: the pods' service account is made by hand.
        cluster.kubectl("create", "serviceaccount", "default", "-n", NS)
        yield cluster
    finally:
        cluster.stop()


def create(cluster: kube.KubeCluster, manifest: dict[str, object]) -> dict[str, object]:
    out = cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(manifest)).stdout
    return dict(json.loads(out))


def test_injection_is_answered_while_the_operators_loop_is_held(
    own_cluster: kube.KubeCluster, env_root: Path
) -> None:
    cluster = own_cluster
    workdir = env_root / "busy-operator"
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "stalled"
    op = operator_env.OperatorProcess(
        cluster=cluster,
        kubeconfig=operator_env.service_account_kubeconfig(cluster, workdir / "op.kubeconfig"),
        workdir=workdir,
        status_interval=1,
        prelude=STALL.format(marker=str(marker), seconds=STALL_SECONDS),
    )
    op.start()
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(objects.gate("api", NS)))
        wait_for(
            "the gate's ConfigMap",
            lambda: (
                cluster.kubectl(
                    "get", "configmap", "api-healthgate", "-n", NS, check=False
                ).returncode
                == 0
            ),
        )
        # The cache sees the Reconciled condition: a pod created now gets the sidecar.
        wait_for(
            "a first pod injected",
            lambda: objects.sidecars(create(cluster, objects.pod(f"p{os.urandom(2).hex()}", NS))),
        )
        os.kill(op.pid, signal.SIGUSR1)
        wait_for("the operator's loop to stall", marker.exists, timeout=10)
        pod = create(cluster, objects.pod("during-the-stall", NS))
        assert len(objects.sidecars(pod)) == 1, op.log()[-3000:]
        assert op.process is not None
        assert op.process.alive
    finally:
        op.close()

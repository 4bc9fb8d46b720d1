"""Our Dockerfile's image on the real node: ``healthgate-sidecar serve`` as a native sidecar.

The image is built by buildah on a Debian base made by mmdebstrap (``tests/env/realnode/
buildah.py``) and imported into the node's containerd. The pod runs it as the chart does: UID
65532, a read-only root filesystem, no capabilities; the kubelet probes it and starts the app
container only after the sidecar's startup probe passed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_client

from tests.env import kube
from tests.env.common import wait_for
from tests.env.realnode import buildah, images
from tests.env.realnode import node as realnode

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
PORT, APP_PORT = 8086, 8080
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture(scope="module")
def healthgate_image(real_node: realnode.RealNode) -> str:
    ref, archive = buildah.healthgate()
    assert real_node.containerd is not None
    real_node.containerd.import_archive(archive, ref)
    return ref


def probe(path: str, port: int, **fields: int) -> Obj:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": 1, **fields}


def pod(image: str, app_image: str, node: str) -> Obj:
    """The sidecar checks the app's port in its own pod (loopback): it is Ready only once the
    app runs, which the kubelet starts only after the sidecar's /startupz passed."""
    config = {
        "dependencies": [
            {
                "name": "app",
                "type": "tcp",
                "intervalSeconds": 1,
                "timeoutSeconds": 0.5,
                "failureThreshold": 1,
                "tcp": {"host": "127.0.0.1", "port": APP_PORT},
            }
        ]
    }
    sidecar = {
        "name": "healthgate",
        "image": image,
        "imagePullPolicy": "Never",
        "restartPolicy": "Always",
        "command": ["healthgate-sidecar", "serve"],
        "args": ["--config", "/etc/healthgate/config.yaml", "--port", str(PORT)],
        "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "config", "mountPath": "/etc/healthgate"}],
        "startupProbe": probe("/startupz", PORT, failureThreshold=60),
        "livenessProbe": probe("/livez", PORT, failureThreshold=3),
        "readinessProbe": probe("/readyz", PORT, failureThreshold=1),
    }
    app = {
        "name": "app",
        "image": app_image,
        "imagePullPolicy": "Never",
        "command": [
            "/bin/sh",
            "-c",
            f"echo ok >/www/index.html; exec httpd -f -p {APP_PORT} -h /www",
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "healthgate"},
                "data": {"config.yaml": json.dumps(config)},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web"},
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 1,
                    "volumes": [{"name": "config", "configMap": {"name": "healthgate"}}],
                    "initContainers": [sidecar],
                    "containers": [app],
                },
            },
        ],
    }


def started_at(status: Obj) -> dt.datetime:
    return dt.datetime.fromisoformat(status["state"]["running"]["startedAt"])


def test_sidecar_image_runs_as_a_restricted_native_sidecar(
    real_node: realnode.RealNode,
    kube_cluster: kube.KubeCluster,
    namespace: str,
    healthgate_image: str,
) -> None:
    app_image = real_node.import_image(images.busybox())
    manifest = pod(healthgate_image, app_image, real_node.name)
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def ready() -> Obj | None:
        got: Obj = json.loads(
            kube_cluster.kubectl("get", "pod", "web", "-n", namespace, "-o", "json").stdout
        )
        conditions = got["status"].get("conditions", [])
        return (
            got if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None
        )

    got = wait_for("the pod Ready through the kubelet's probes", ready, timeout=120)
    sidecar = got["status"]["initContainerStatuses"][0]
    app = got["status"]["containerStatuses"][0]
    assert sidecar["restartCount"] == 0
    assert sidecar["started"] is True
    assert started_at(sidecar) <= started_at(app)  # native-sidecar ordering, by the kubelet

    def run(*code: str) -> str:
        argv = ["exec", "web", "-c", "healthgate", "-n", namespace, "--", "python", "-c", *code]
        proc = kube_cluster.kubectl(*argv, check=False)
        return proc.stdout + proc.stderr

    assert run("import os; print(os.getuid(), os.getgid())").split()[:2] == ["65532", "65532"]
    assert "Read-only file system" in run("open('/opt/healthgate/x', 'w')")


def test_redis_image_serves_at_its_pod_ip(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster, namespace: str
) -> None:
    """Debian's redis-server, made into an image the same way, runs restricted as a pod and
    answers at its pod IP (the end-to-end Redis runs like this behind a Service)."""
    ref, archive = buildah.redis()
    assert real_node.containerd is not None
    real_node.containerd.import_archive(archive, ref)
    server = {
        "name": "redis",
        "image": ref,
        "imagePullPolicy": "Never",
        "command": ["redis-server", "--port", "6379", "--protected-mode", "no", "--save", ""],
        "args": ["--appendonly", "no", "--dir", "/data"],
        "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
    }
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "redis"},
        "spec": {
            "nodeName": real_node.name,
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [server],
        },
    }
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def ready() -> Obj | None:
        got: Obj = json.loads(
            kube_cluster.kubectl("get", "pod", "redis", "-n", namespace, "-o", "json").stdout
        )
        statuses = got["status"].get("containerStatuses", [])
        return got if statuses and statuses[0]["ready"] else None

    ip = wait_for("Redis Ready", ready, timeout=90)["status"]["podIP"]
    client = redis_client.Redis(host=ip, port=6379, socket_timeout=5)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_frozen_sidecar_is_restarted_by_the_kubelets_liveness_probe(
    real_node: realnode.RealNode,
    kube_cluster: kube.KubeCluster,
    namespace: str,
    healthgate_image: str,
) -> None:
    """SIGSTOP the sidecar's process (from the host: its own PID namespace would refuse): the
    kubelet's liveness probe times out, it restarts the sidecar alone, and the pod recovers."""
    app_image = real_node.import_image(images.busybox())
    manifest = pod(healthgate_image, app_image, real_node.name)
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def status(ready: bool, restarts: int) -> Callable[[], Obj | None]:
        def probe() -> Obj | None:
            got: Obj = json.loads(
                kube_cluster.kubectl("get", "pod", "web", "-n", namespace, "-o", "json").stdout
            )
            sidecars = got["status"].get("initContainerStatuses", [])
            if not sidecars:
                return None
            ok = sidecars[0]["restartCount"] >= restarts and sidecars[0].get("ready") is ready
            return got if ok else None

        return probe

    got = wait_for("the pod Ready", status(True, 0), timeout=120)
    sidecar, app = got["status"]["initContainerStatuses"][0], got["status"]["containerStatuses"][0]
    assert real_node.containerd is not None
    pid = real_node.containerd.pid(realnode.ensure_installed().crictl, sidecar["containerID"])
    os.kill(pid, signal.SIGSTOP)
    after = wait_for("the liveness restart and recovery", status(True, 1), timeout=120)
    assert after["status"]["initContainerStatuses"][0]["restartCount"] == 1
    # a native sidecar restarts alone: the app container kept running
    assert after["status"]["containerStatuses"][0]["restartCount"] == app["restartCount"]

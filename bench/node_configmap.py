"""How long a ConfigMap edit takes to reach a running sidecar on the real node.

The kubelet updates a ConfigMap volume on its pod sync (``syncFrequency``, 1 min by default) plus
its ConfigMap cache's delay, and the sidecar then sees the file change on its next poll. This
starts the control plane and the real node (``tests/env/realnode``), runs our image's sidecar in
a pod, edits its ConfigMap a few times (a new dependency each time) and prints how long each edit
took until ``/health/<new name>`` answered at the pod's IP.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.env import common, kube
from tests.env.realnode import buildah
from tests.env.realnode import node as realnode

PORT, EDITS = 8086, 3


def config(names: list[str]) -> str:
    deps = [
        {
            "name": n,
            "type": "env",
            "intervalSeconds": 1,
            "timeoutSeconds": 0.5,
            "env": {"names": ["PATH"]},
        }
        for n in names
    ]
    return json.dumps({"dependencies": deps})


def manifests(image: str, node: str, names: list[str]) -> dict[str, Any]:
    sidecar = {
        "name": "healthgate",
        "image": image,
        "imagePullPolicy": "Never",
        "restartPolicy": "Always",
        "command": ["healthgate-sidecar", "serve"],
        "args": ["--config", "/etc/healthgate/config.yaml", "--port", str(PORT)],
        "volumeMounts": [{"name": "config", "mountPath": "/etc/healthgate"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": PORT}, "periodSeconds": 1},
    }
    pause = {
        "name": "app",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python", "-c", "import time; time.sleep(1e9)"],
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "healthgate"}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bench"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "config", "configMap": {"name": "healthgate"}}],
            "initContainers": [sidecar],
            "containers": [pause],
        },
    }
    items = [{**cm, "data": {"config.yaml": config(names)}}, pod]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a pod IP we started
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except OSError:
        return False


def measure(cluster: kube.KubeCluster, node: realnode.RealNode) -> list[float]:
    ref, archive = buildah.healthgate()
    assert node.containerd is not None
    node.containerd.import_archive(archive)
    names = ["first"]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifests(ref, node.name, names)))
    ip = common.wait_for("the pod's IP", lambda: _pod_ip(cluster), timeout=180)
    common.wait_for("the sidecar", lambda: answers(f"http://{ip}:{PORT}/health/first"), 180)
    delays = []
    for i in range(EDITS):
        names.append(f"edit-{i}")
        data = json.dumps({"data": {"config.yaml": config(names)}})
        began = time.monotonic()
        cluster.kubectl("patch", "configmap", "healthgate", "--type=merge", "-p", data)
        url = f"http://{ip}:{PORT}/health/{names[-1]}"
        common.wait_for("the edit", _answering(url), timeout=300, every=0.2)
        delays.append(time.monotonic() - began)
        print(f"edit {i + 1}: {delays[-1]:.1f} s", flush=True)
    return delays


def _answering(url: str) -> Callable[[], bool]:
    return lambda: answers(url)


def _pod_ip(cluster: kube.KubeCluster) -> str | None:
    pod = json.loads(cluster.kubectl("get", "pod", "bench", "-o", "json").stdout)
    ip: str | None = pod["status"].get("podIP")
    return ip


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="healthgate-bench-"))
    cluster = kube.start(root / "kube")
    node = realnode.RealNode(cluster, root / "node")
    try:
        node.start()
        delays = measure(cluster, node)
    finally:
        node.stop()
        cluster.stop()
    print(
        f"ConfigMap edit -> running sidecar (kubelet defaults, {EDITS} edits): "
        f"median {statistics.median(delays):.1f} s, min {min(delays):.1f} s, "
        f"max {max(delays):.1f} s"
    )


if __name__ == "__main__":
    main()

"""HealthGate installed by ``helm install charts/healthgate`` on the real node, as a user does.

The operator runs as pods of the chart's Deployment from the image built from our Dockerfile
(:func:`tests.env.realnode.buildah.healthgate`, imported into the node's containerd, never
pulled), and the API server calls its webhooks through the chart's Service: kube-proxy's rules
in the machine's OUTPUT chain lead the ClusterIP to a pod on the node's bridge.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.env import common, incluster, kube
from tests.env.realnode import buildah
from tests.env.realnode import node as realnode

CHART = Path(__file__).resolve().parents[3] / "charts" / "healthgate"
TAINT_KEY = "healthgate.dev/real-node"  # what the tests' RealNode is tainted with (conftest.py)
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def import_healthgate(node: realnode.RealNode) -> str:
    """The HealthGate image, built once per change of its inputs, in the node's containerd."""
    ref, archive = buildah.healthgate()
    assert node.containerd is not None, "start() the node first"
    node.containerd.import_archive(archive, ref)
    return ref


def on_node(node: realnode.RealNode) -> dict[str, object]:
    """Pod spec fields that put a pod on the real node, tainted or not."""
    return {
        "nodeSelector": {"kubernetes.io/hostname": node.name},
        "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }


def values(
    node: realnode.RealNode, *, image: str, release: str, watch: tuple[str, ...]
) -> dict[str, object]:
    """Chart values for the real node: the local image, on this node, serving ``watch`` only,
    with webhook configurations named after the release (other tests' operators own
    ``healthgate.io``)."""
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        **on_node(node),
        "watchNamespaces": list(watch),
        "statusIntervalSeconds": 2,
        "webhook": {"configurationName": f"{release}.healthgate.io"},
    }


@dataclass
class Release:
    """A helm release of the chart; :meth:`uninstall` takes everything it installed."""

    cluster: kube.KubeCluster
    name: str
    namespace: str

    @property
    def deployment(self) -> str:
        return incluster.fullname(self.name)

    def install(self, chart_values: dict[str, object], *, timeout: float = 180) -> float:
        """``helm install`` and wait until the operator Deployment is Available and its
        webhook configuration carries the CA; returns the seconds that took."""
        self.cluster.kubectl("create", "namespace", self.namespace)
        labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
        self.cluster.kubectl("label", "namespace", self.namespace, *labels)
        started = time.monotonic()
        values_file = self.cluster.workdir / f"{self.name}-values.json"
        values_file.write_text(json.dumps(chart_values))  # JSON is YAML
        self.cluster.helm(
            "install", self.name, str(CHART), "-n", self.namespace, "--values", str(values_file)
        )
        try:
            common.wait_for("the operator Available", self.available, timeout=timeout)
            common.wait_for("the webhook's caBundle", self.ca_published, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None
        return time.monotonic() - started

    def available(self) -> bool:
        got = self.cluster.kubectl(
            "get", "deployment", self.deployment, "-n", self.namespace, "-o", "json"
        )
        conditions = json.loads(got.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    def diagnosis(self) -> str:
        """The operator pods' states and last log lines: why an install did not come up."""
        pods = self.cluster.kubectl("get", "pods", "-n", self.namespace, "-o", "wide").stdout
        logs = self.cluster.kubectl(
            "logs", f"deployment/{self.deployment}", "-n", self.namespace, "--tail=20",
            check=False,
        )  # fmt: skip
        previous = self.cluster.kubectl(
            "logs", f"deployment/{self.deployment}", "-n", self.namespace, "--previous",
            "--tail=20", check=False,
        )  # fmt: skip
        return f"{pods}\nlogs:\n{logs.stdout}{logs.stderr}\nbefore a restart:\n{previous.stdout}"

    def ca_published(self) -> bool:
        """The operator patches the shipped configuration's caBundle once it serves."""
        got = self.cluster.kubectl(
            "get", "mutatingwebhookconfiguration", f"{self.name}.healthgate.io", "-o", "json"
        )
        hooks = json.loads(got.stdout).get("webhooks") or []
        return bool(hooks) and all(h["clientConfig"].get("caBundle") for h in hooks)

    def uninstall(self) -> None:
        self.cluster.helm("uninstall", self.name, "-n", self.namespace, "--wait", check=False)
        self.cluster.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)

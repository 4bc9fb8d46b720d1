"""Local mode: the session's control plane and real node, HealthGate from the chart.

The images come from our own Dockerfile and Debian's redis-server, built with buildah and
imported into the node's containerd (:mod:`tests.env.realnode.buildah`; nothing is pulled). Each
test module gets its own ``helm install`` serving its namespace only (other tests of the session
run their own operators on the same cluster), with a webhook configuration named after the
release. Pods reach Redis by its Service's name through the cluster's DNS (CoreDNS on the
node), as on kind; the test process reaches a sidecar at its pod IP on the node's bridge.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.env import common, kube
from tests.env.incluster import ChartOperator, ClusterRedis
from tests.env.realnode import buildah, release
from tests.env.realnode import node as realnode

from .backends import E2EBackend, E2ERedis, Json, sidecar_port

# The pods' containers run restricted, as the chart's operator namespace requires.
RESTRICTED: Json = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class LocalBackend(E2EBackend):
    """The session's API server and real node; a chart release per test module."""

    def __init__(
        self, kube_cluster: kube.KubeCluster, node: realnode.RealNode, env_root: Path
    ) -> None:
        super().__init__(str(kube_cluster.bins.kubectl), kube_cluster.kubeconfig)
        self.kube_cluster = kube_cluster
        self.node = node
        self.env_root = env_root
        self.app_image = ""
        self.redis_image = ""

    def prepare(self) -> None:
        """Import the images (built once per change of their inputs) into the node."""
        self.app_image = release.import_healthgate(self.node)
        ref, archive = buildah.redis()
        assert self.node.containerd is not None
        self.node.containerd.import_archive(archive, ref)
        self.redis_image = ref

    def pod_spec(self) -> Json:
        return release.on_node(self.node)

    @contextlib.contextmanager
    def operator(self, namespace: str) -> Iterator[ChartOperator]:
        suffix = uuid.uuid4().hex[:5]
        rel = release.Release(self.kube_cluster, name=f"hg-{suffix}", namespace=f"e2e-hg-{suffix}")
        chart_values = release.values(
            self.node, image=self.app_image, release=rel.name, watch=(namespace,)
        )
        # Status every second, as the suite's waits expect of a quiet local cluster.
        chart_values["statusIntervalSeconds"] = 1
        try:
            took = rel.install(chart_values)
            common.progress(f"helm install -> operator Available and CA published: {took:.1f}s")
            yield ChartOperator(self, rel.name, rel.namespace, webhook=f"{rel.name}.healthgate.io")
        finally:
            rel.uninstall()

    @contextlib.contextmanager
    def redis(self, namespace: str) -> Iterator[E2ERedis]:
        """Debian's redis-server, restricted, its data in an emptyDir (the root is read-only)."""
        server = ClusterRedis(
            self,
            namespace,
            self.redis_image,
            pod_spec={**self.pod_spec(), "volumes": [{"name": "data", "emptyDir": {}}]},
        )
        server.container = {
            "imagePullPolicy": "Never",
            "args": [
                "redis-server", "--requirepass", server.password, "--save", "",
                "--appendonly", "no", "--dir", "/data",
            ],
            "securityContext": {**RESTRICTED, "readOnlyRootFilesystem": True},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }  # fmt: skip
        server.deploy()
        yield server  # deleted with the namespace

    def sidecar_url(self, pod: Json, path: str = "/health") -> str:
        return f"http://{pod['status']['podIP']}:{sidecar_port(pod)}{path}"

    def local_only(self, reason: str) -> LocalBackend:
        return self

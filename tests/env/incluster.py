"""kubectl on a cluster, and what the end-to-end suite and ``make demo`` run inside it.

:class:`Cluster` is kubectl with an admin kubeconfig, for any cluster (the local one, kind).
:class:`ChartOperator` is HealthGate as ``helm install charts/healthgate`` made it: the operator
Deployment, its webhook configuration, the directive key Secret. A test stops it (scaled to 0),
starts it again, reads its metrics through the API server's pod proxy and signs directives with
its key. :class:`ClusterRedis` is a Redis Deployment and Service in a test namespace. Only what
the backends differ in (the images, where pods are placed, how a pod reaches the Service) is
passed in. The end-to-end suite runs them the same way in local and kind mode.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.env import common, redis

Json = dict[str, Any]
METRICS_PORT = 8080  # the chart's ports.metrics


class Cluster:
    """kubectl helpers on the cluster under test (admin identity)."""

    def __init__(self, kubectl: str, kubeconfig: Path) -> None:
        self.kubectl_path = kubectl
        self.kubeconfig = kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.kubectl(*args, input=input, check=check).stdout

    def apply(self, *manifests: Json) -> None:
        self.run("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def json(self, *args: str) -> Json:
        loaded: Json = json.loads(self.run(*args, "-o", "json"))
        return loaded

    def pods(self, namespace: str, app: str) -> list[Json]:
        items: list[Json] = self.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def fullname(release: str) -> str:
    """The chart's ``healthgate.fullname``: the release name if it contains the chart's name."""
    return release if "healthgate" in release else f"{release}-healthgate"


@dataclass
class ChartOperator:
    """A release of the chart: ``name`` in ``namespace``, its webhook configuration ``webhook``."""

    cluster: Cluster
    name: str
    namespace: str
    webhook: str
    replicas: int = 2

    @property
    def deployment(self) -> str:
        return fullname(self.name)

    def pods(self) -> list[Json]:
        """The operator's running pods (not `helm test`'s, which share the instance label)."""
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component!=test"
        found: list[Json] = self.cluster.json("get", "pods", "-n", self.namespace, "-l", selector)[
            "items"
        ]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def webhook_applied(self) -> bool:
        """The chart ships the configuration; the running operator publishes its CA."""
        found = self.cluster.kubectl(
            "get", "mutatingwebhookconfiguration", self.webhook, "-o", "json", check=False
        )
        if found.returncode != 0:
            return False
        hooks = json.loads(found.stdout).get("webhooks") or []
        return bool(hooks) and all(h["clientConfig"].get("caBundle") for h in hooks)

    def stop(self) -> None:
        """Scale the operator to 0 and wait until none of its pods is left."""
        self._scale(0)
        common.wait_for("the operator's pods gone", lambda: not self.pods(), timeout=120)

    def start(self) -> None:
        """Scale it back and wait until it is Available again."""
        self._scale(self.replicas)
        self.cluster.kubectl(
            "rollout", "status", f"deployment/{self.deployment}", "-n", self.namespace,
            "--timeout=180s", timeout=190,
        )  # fmt: skip

    def _scale(self, replicas: int) -> None:
        self.cluster.run(
            "scale", f"deployment/{self.deployment}", "-n", self.namespace,
            f"--replicas={replicas}",
        )  # fmt: skip

    def directive_key(self) -> ed25519.Ed25519PrivateKey:
        """The key the chart generated for shared-outage directives (its Secret, read as admin)."""
        secret = self.cluster.json(
            "get", "secret", f"{self.deployment}-directive-key", "-n", self.namespace
        )
        pem = base64.b64decode(secret["data"]["key.pem"])
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ed25519.Ed25519PrivateKey), "the chart's key is Ed25519"
        return key

    def metrics(self) -> str:
        """Every running replica's /metrics, joined, through the API server's pod proxy."""
        texts = []
        for pod in self.pods():
            path = (
                f"/api/v1/namespaces/{self.namespace}/pods/{pod['metadata']['name']}:"
                f"{METRICS_PORT}/proxy/metrics"
            )
            got = self.cluster.kubectl("get", "--raw", path, check=False)
            texts.append(got.stdout)
        return "\n".join(texts)


@dataclass
class ClusterRedis:
    """Redis as a Deployment and Service ``redis`` in a test namespace, with a password.

    ``host`` is how pods reach the Service (its DNS name where the cluster has DNS, its
    ClusterIP where not); ``pod_spec`` and ``container`` add what the backend needs (placement,
    pull policy). Stopping scales it to 0 and waits until its pod is gone; starting scales it
    back to 1 and waits until it is ready.
    """

    cluster: Cluster
    namespace: str
    image: str
    pod_spec: Json = field(default_factory=dict)
    container: Json = field(default_factory=dict)
    host: str = ""
    name: str = "redis"
    port: int = 6379
    password: str = redis.PASSWORD

    @property
    def url(self) -> str:
        host = self.host or f"{self.name}.{self.namespace}.svc"
        return f"redis://:{self.password}@{host}:{self.port}/0"

    def manifests(self) -> list[Json]:
        labels = {"app": self.name}
        meta = {"name": self.name, "namespace": self.namespace, "labels": labels}
        container = {
            "name": "redis",
            "image": self.image,
            "args": ["redis-server", "--requirepass", self.password, "--save", ""],
            "ports": [{"name": "redis", "containerPort": self.port}],
            "readinessProbe": {"tcpSocket": {"port": self.port}, "periodSeconds": 1},
            **self.container,
        }
        spec = {"terminationGracePeriodSeconds": 1, **self.pod_spec, "containers": [container]}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "redis", "port": self.port}]},
        }
        return [deployment, service]

    def deploy(self) -> None:
        self.cluster.apply(*self.manifests())
        self._wait_ready()

    def cluster_ip(self) -> str:
        ip: str = self.cluster.json("get", "service", self.name, "-n", self.namespace)["spec"][
            "clusterIP"
        ]
        return ip

    def stop(self) -> None:
        self._scale(0)
        common.wait_for(
            "the Redis pod gone",
            lambda: (
                self.cluster.run(
                    "get", "pods", "-n", self.namespace, "-l", f"app={self.name}", "-o", "name"
                )
                == ""
            ),
            timeout=120,
        )

    def start(self) -> None:
        self._scale(1)
        self._wait_ready()

    def _scale(self, replicas: int) -> None:
        self.cluster.run(
            "scale", f"deployment/{self.name}", "-n", self.namespace, f"--replicas={replicas}"
        )

    def _wait_ready(self) -> None:
        # In kind the first start pulls the image into the node.
        self.cluster.kubectl(
            "rollout", "status", f"deployment/{self.name}", "-n", self.namespace,
            "--timeout=240s", timeout=250,
        )  # fmt: skip

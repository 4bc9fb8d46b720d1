"""What ``test_real_node_operator.py`` builds and reads: manifests, the gate, the sidecars' view.

Pure builders of the manifests (app, Redis, gate) and small readers over kubectl and the pods'
IPs on the real node's bridge, so the test module keeps to the flow itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.env import kube, prometheus
from tests.env.realnode import node as realnode
from tests.env.realnode import release

Json = dict[str, Any]
APP, REPLICAS, PASSWORD = "story-api", 2, "real-node-secret"
SIDECAR_PORT = 8086  # the chart's sidecar.port
UID = 65532
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass
class Flow:
    cluster: kube.KubeCluster
    node: realnode.RealNode
    release: release.Release
    apps: str  # the namespace the operator serves

    def json(self, *args: str) -> Json:
        got: Json = json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)
        return got

    def apply(self, *items: Json) -> None:
        manifest = {"apiVersion": "v1", "kind": "List", "items": list(items)}
        self.cluster.kubectl("apply", "-n", self.apps, "-f", "-", input=json.dumps(manifest))

    def pods(self, app: str) -> list[Json]:
        found: list[Json] = self.json("get", "pods", "-n", self.apps, "-l", f"app={app}")["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def all(
        self, predicate: Callable[[Json], bool], *, replicas: int = REPLICAS
    ) -> list[Json] | None:
        """The app's pods if there are ``replicas`` of them and each satisfies ``predicate``."""
        pods = self.pods(APP)
        return pods if len(pods) == replicas and all(predicate(p) for p in pods) else None

    def gate(self) -> Json:
        status: Json = self.json("get", "hg", APP, "-n", self.apps).get("status") or {}
        return status

    def operator_pods(self) -> list[Json]:
        selector = f"app.kubernetes.io/instance={self.release.name}"
        found = self.json("get", "pods", "-n", self.release.namespace, "-l", selector)["items"]
        test = "app.kubernetes.io/component"  # `helm test`'s pod has the instance label too
        return [p for p in found if p["metadata"]["labels"].get(test) != "test"]

    def peers(self) -> dict[str, Json] | None:
        """Kopf's peering status (identity -> priority) once every listed peer is a pod."""
        got = self.json("get", "kopfpeering", "healthgate", "-n", self.apps)
        peers: dict[str, Json] = got.get("status") or {}
        names = {p["metadata"]["name"] for p in self.operator_pods()}
        return peers if len(peers) >= 2 and set(peers) <= names else None

    def webhook_seconds(self) -> tuple[float, int]:
        """The API server's own measure of the pod webhook: mean seconds and call count."""
        text = self.cluster.kubectl("get", "--raw", "/metrics").stdout
        found = {"sum": 0.0, "count": 0.0}
        for line in text.splitlines():
            for kind in found:
                head = f"apiserver_admission_webhook_admission_duration_seconds_{kind}{{"
                if line.startswith(head) and 'name="inject.healthgate.io"' in line:
                    found[kind] += float(line.rsplit(" ", 1)[1])
        count = int(found["count"])
        return (found["sum"] / count if count else 0.0), count


def ready(pod: Json) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def health(pod: Json) -> Json:
    """The sidecar's /health at the pod's IP (on the node's bridge); a 503 still has the body."""
    url = f"http://{pod['status']['podIP']}:{SIDECAR_PORT}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: Json = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
    return body


def query(server: prometheus.PrometheusServer, promql: str) -> list[Json]:
    url = f"{server.url}/api/v1/query?query={urllib.parse.quote(promql)}"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
        result: list[Json] = json.loads(resp.read())["data"]["result"]
    return result


def deployment(name: str, replicas: int, spec: Json) -> Json:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def app_container(image: str) -> Json:
    return {
        "name": "api",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sleep", "100000"],
        "securityContext": RESTRICTED,
    }


def redis(node: realnode.RealNode, image: str) -> list[Json]:
    """Debian's redis-server, restricted, as a Deployment and a Service ``redis``."""
    server = {
        "name": "redis",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["redis-server", "--port", "6379", "--requirepass", PASSWORD, "--save", ""],
        "args": ["--appendonly", "no", "--dir", "/data"],
        "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
    }
    spec = {
        **release.on_node(node),
        "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [server],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "redis"},
        "spec": {"selector": {"app": "redis"}, "ports": [{"name": "redis", "port": 6379}]},
    }
    return [deployment("redis", 1, spec), service]


def gate(*extra: Json) -> Json:
    """The app's gate: Redis (URL from the Secret ``redis-auth``), then ``extra``."""
    cache = {
        "name": "cache",
        "type": "redis",
        "intervalSeconds": 1,
        "timeoutSeconds": 0.5,
        "failureThreshold": 1,
        "redis": {"urlFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}},
    }
    return {
        "apiVersion": "healthgate.io/v1alpha1",
        "kind": "HealthGate",
        "metadata": {"name": APP},
        "spec": {
            "selector": {"matchLabels": {"app": APP}},
            "dependencies": [cache, *extra],
            "probes": {
                "readiness": {"periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 1},
                "startup": {"periodSeconds": 1, "failureThreshold": 60},
            },
        },
    }

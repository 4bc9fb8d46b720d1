"""``make demo``: HealthGate doing its job on this machine, narrated step by step.

It starts the local environment (API server, controllers, the real node: kubelet, containerd,
CNI, kube-proxy; Neo4j and Prometheus on this machine), installs HealthGate with ``helm install
charts/healthgate`` from the image our Dockerfile builds, runs Redis as a pod behind a Service,
applies ``examples/interactive-story`` (a Deployment and its HealthGate), and shows what a user
looks at. Then it stops Redis (scaled to 0), which every pod shares: a shared outage, so the pods
stay Ready while the gate reports Redis unhealthy with a SharedOutage condition and Event; starts
Redis again and shows recovery; then rotates the Redis Secret to a wrong password and replaces
one pod: the demo's gate passes Secrets as environment variables (``secretsAs: env``), so only
the new pod gets the wrong one, a pod-local failure which drains only that pod; the Secret is
fixed and that pod replaced. Everything is torn down at the end unless ``--keep`` is given.

Pods reach Redis by its Service's name through the cluster's DNS (CoreDNS on the node), and Neo4j
and Prometheus, which stay on this machine, through relays on the node bridge's own address.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tests.env import common, incluster, kube, neo4j, prometheus, redis
from tests.env.realnode import buildah, relay, release
from tests.env.realnode import node as realnode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "interactive-story"
NS = "story"
RELEASE, RELEASE_NS = "healthgate", "healthgate-system"


class Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback URLs only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.3)
    raise common.EnvMissing(f"timed out waiting for {what}")


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class Demo:
    """The running pieces and the commands a user would type."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack: list[Stoppable] = []

    def start(self) -> None:
        step("Starting the local environment (a real node; Neo4j and Prometheus on loopback)")
        self.cluster = self._keep(kube.start(self.root / "kube"))
        self.node = self._keep(realnode.RealNode(self.cluster, self.root / "node"))
        self.node.start()
        self.neo4j = self._keep(neo4j.start(self.root / "neo4j"))
        self.cluster.kubectl("apply", "-f", "-", input=prometheus.PROMETHEUS_RBAC)
        pair = self.cluster.ca.issue("prometheus", "healthgate-local-prometheus", client=True)
        config = prometheus.kubernetes_pods_config(
            api_server=self.cluster.server,
            ca_file=self.cluster.ca.cert,
            cert_file=pair.cert,
            key_file=pair.key,
        )
        self.prom = self._keep(prometheus.start(self.root / "prometheus", config))
        bolt = self.neo4j.uri.removeprefix("bolt://")
        self.bolt = self._keep(relay.start("neo4j-relay", bolt, self.root / "neo4j-relay"))
        web = self.prom.url.removeprefix("http://")
        self.web = self._keep(relay.start("prometheus-relay", web, self.root / "prom-relay"))
        print(f"  kube-apiserver {self.cluster.server}   kubeconfig {self.cluster.kubeconfig}")
        print(f"  node {self.node.name} (kubelet, containerd; logs in {self.node.workdir})")
        print(
            f"  neo4j {self.neo4j.uri} (pods: {self.bolt.address})   prometheus {self.prom.url} "
            f"(pods: {self.web.address})"
        )

    def _keep(self, thing: S) -> S:
        self.stack.append(thing)
        return thing

    def kubectl(self, *args: str, show: bool = True, input: str | None = None) -> str:
        out = self.cluster.kubectl(*args, input=input).stdout
        if show:
            print(f"$ kubectl {' '.join(args)}\n{out.rstrip()}")
        return out

    def install(self) -> None:
        step("Installing HealthGate with helm install charts/healthgate (the local image)")
        image = release.import_healthgate(self.node)
        self.image = image
        rel = release.Release(self.cluster, name=RELEASE, namespace=RELEASE_NS)
        took = rel.install(release.values(self.node, image=image, release=RELEASE, watch=()))
        print(f"  {image}: operator Deployment Available, webhook CA published in {took:.1f}s")
        self.kubectl("get", "pods", "-n", RELEASE_NS, "-o", "wide")

    def start_redis(self) -> None:
        step("Running Redis as a pod behind the Service redis")
        ref, archive = buildah.redis()
        assert self.node.containerd is not None
        self.node.containerd.import_archive(archive)
        admin = incluster.Cluster(str(self.cluster.bins.kubectl), self.cluster.kubeconfig)
        self.redis = incluster.ClusterRedis(admin, NS, ref)
        self.redis.container = {
            "imagePullPolicy": "Never",
            "args": [
                "redis-server",
                "--requirepass",
                redis.PASSWORD,
                "--save",
                "",
                "--dir",
                "/tmp",
            ],
        }
        self.redis.pod_spec = release.on_node(self.node)
        self.redis.deploy()
        self.kubectl("get", "pods,services", "-n", NS, "-l", "app=redis")

    def apply_example(self) -> None:
        step(f"Applying {EXAMPLE.relative_to(ROOT)} (hosts pointed at the local servers)")
        local = {
            "redis://:change-me@redis.story.svc:6379/0": self.redis.url,
            "password: change-me": f"password: {self.neo4j.password}",
            "bolt://neo4j.story.svc:7687": f"bolt://{self.bolt.address}",
            # No LLM gateway can run here: Prometheus' HTTP API stands in as the HTTP dependency.
            "http://llm-gateway.story.svc:4000/health": f"http://{self.web.address}/-/ready",
            # No story-api image exists: our own image's `sleep` stands in for the app.
            "image: example.invalid/story-api:1.0": (
                f"image: {self.image}\n          command: [sleep, infinity]"
            ),
            # A pod keeps the Secret values it started with, so the last step can break one pod
            # alone (with the default Secret volume, the kubelet hands every pod the new value).
            "  sidecar:\n": "  sidecar:\n    secretsAs: env\n",
        }
        for name in ("secrets.yaml", "healthgate.yaml", "deployment.yaml"):
            text = (EXAMPLE / name).read_text()
            for placeholder, value in local.items():
                text = text.replace(placeholder, value)
            self.kubectl("apply", "-n", NS, "-f", "-", input=text)
            if name == "healthgate.yaml":
                # The webhook injects pods created once the operator has seen the gate.
                wait_for(
                    "the gate's ConfigMap",
                    lambda: bool(
                        self.cluster.kubectl(
                            "get", "configmap", "story-api-healthgate", "-n", NS, check=False
                        ).stdout
                    ),
                )

    def namespace(self) -> None:
        self.kubectl("create", "namespace", NS)
        wait_for(
            "the default service account",
            lambda: bool(
                self.cluster.kubectl("get", "sa", "default", "-n", NS, check=False).stdout
            ),
        )

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            self.kubectl("get", "pods", "-n", NS, "-l", "app=story-api", "-o", "json", show=False)
        )["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_count(self) -> int:
        return sum(is_ready(p) for p in self.pods())

    def gate_status(self) -> str:
        """``Status Ready`` of the gate, e.g. ``Healthy 3/3``."""
        body = json.loads(
            self.kubectl("get", "hg", "story-api", "-n", NS, "-o", "json", show=False)
        )
        status = body.get("status") or {}
        return f"{status.get('status')} {status.get('ready')}"

    def show_state(self) -> None:
        self.kubectl("get", "hg,pods", "-n", NS, "-o", "wide")
        pod = self.pods()[0]
        port = pod["metadata"]["annotations"]["prometheus.io/port"]
        base = f"http://{pod['status']['podIP']}:{port}"
        code, body = get(base + "/readyz?verbose")
        print(f"$ curl {base}/readyz?verbose   # {pod['metadata']['name']}: HTTP {code}")
        print("  " + body.strip().replace("\n", "\n  "))

    def shared_outage(self) -> list[str]:
        body = json.loads(
            self.kubectl("get", "hg", "story-api", "-n", NS, "-o", "json", show=False)
        )
        return list((body.get("status") or {}).get("sharedOutage") or [])

    def outage(self) -> None:
        step(
            "Stopping Redis (scaled to 0), which every pod shares: a shared outage, pods stay Ready"
        )
        self.redis.stop()
        started, empty_since, empty = time.monotonic(), None, 0.0

        def serving() -> bool:
            nonlocal empty_since, empty
            ready = self.ready_count()
            now = time.monotonic()
            if ready == 0 and empty_since is None:
                empty_since = now
            elif ready and empty_since is not None:
                empty, empty_since = empty + now - empty_since, None
            return ready == 3 and self.shared_outage() == ["sessions"]

        wait_for("the shared outage with every pod Ready", serving)
        print(
            f"  shared outage reported {time.monotonic() - started:.1f}s after Redis stopped; "
            f"zero Ready pods for {empty:.1f}s in between"
        )
        self.show_state()
        self.kubectl(
            "get", "events", "-n", NS, "--field-selector", "involvedObject.kind=HealthGate"
        )
        self.kubectl("get", "hg", "story-api", "-n", NS, "-o", "jsonpath={.status.conditions}")

    def recovery(self) -> None:
        step("Starting Redis again (scaled to 1): the shared outage ends, the gate recovers")
        self.redis.start()
        took = wait_for("the gate Healthy", lambda: self.gate_status() == "Healthy 3/3")
        print(f"  gate Healthy {took:.1f}s after Redis started")
        wait_for("the shared outage over", lambda: self.shared_outage() == [])
        self.show_state()

    def pod_local(self) -> None:
        step("A wrong Redis password in the Secret reaches only a new pod, which alone drains")
        print(
            "  The gate passes Secrets as env (sidecar.secretsAs: env): a running pod keeps its"
            " password. (With the default Secret volume the kubelet would hand every pod the"
            " wrong one at its next sync: a shared problem.)"
        )
        self.set_redis_url(self.redis.url.replace(redis.PASSWORD, "wrong-password"))
        victim = self.pods()[0]["metadata"]["name"]
        self.kubectl("delete", "pod", victim, "-n", NS, "--wait=false")
        wait_for(
            "the replacement pod NotReady, the others Ready",
            lambda: len(self.pods()) == 3 and self.ready_count() == 2,
        )
        wait_for("the gate to count it", lambda: self.gate_status() == "Unhealthy 2/3")
        self.kubectl("get", "hg,pods", "-n", NS)
        print(f"  shared outage: {self.shared_outage() or 'none'} (1 of 3 pods is not most pods)")
        step("Fixing the Secret: the broken pod takes the password when it is replaced")
        self.set_redis_url(self.redis.url)
        broken = [p["metadata"]["name"] for p in self.pods() if not is_ready(p)]
        self.kubectl("delete", "pod", *broken, "-n", NS, "--wait=false")
        took = wait_for("the gate Healthy", lambda: self.gate_status() == "Healthy 3/3")
        print(f"  gate Healthy {took:.1f}s after the pod was replaced")

    def set_redis_url(self, url: str) -> None:
        patch = {"stringData": {"url": url}}
        self.kubectl("patch", "secret", "redis-auth", "-n", NS, "-p", json.dumps(patch))

    def prometheus(self) -> None:
        step("Prometheus discovered the sidecars through the API server and scraped them")
        query = urllib.parse.quote('healthgate_dependency_up{namespace="story"}')

        def series() -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = json.loads(
                get(f"{self.prom.url}/api/v1/query?query={query}")[1]
            )["data"]["result"]
            return result

        def all_up() -> bool:
            found = series()
            return len(found) >= 3 * len(self.pods()) and all(s["value"][1] == "1" for s in found)

        wait_for("fresh scrapes of every sidecar", all_up, timeout=60)
        for s in sorted(series(), key=lambda s: (s["metric"]["pod"], s["metric"]["dependency"])):
            print(
                f'  healthgate_dependency_up{{pod="{s["metric"]["pod"]}", '
                f'dependency="{s["metric"]["dependency"]}"}} {s["value"][1]}'
            )

    def explain(self) -> None:
        """On failure, what a user would look at next (if the cluster got that far)."""
        if hasattr(self, "cluster") and self.cluster.processes:
            print(
                self.cluster.kubectl("get", "hg,pods", "-n", NS, "-o", "wide", check=False).stdout
            )
            print(
                self.cluster.kubectl(
                    "get", "hg", "-n", NS, "-o", "jsonpath={.items[*].status}", check=False
                ).stdout
            )

    def stop(self) -> None:
        for thing in reversed(self.stack):
            thing.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep everything running")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="healthgate-demo-"))
    root.chmod(0o755)
    demo = Demo(root)
    try:
        demo.start()
        demo.install()
        demo.namespace()
        demo.start_redis()
        demo.apply_example()
        step("Waiting for the pods: injected, scheduled onto the node, started, probed")
        took = wait_for("3 Ready pods", lambda: demo.ready_count() == 3, timeout=180)
        print(f"  3/3 pods Ready after {took:.1f}s")
        wait_for("the gate Healthy", lambda: demo.gate_status() == "Healthy 3/3")
        demo.show_state()
        demo.outage()
        demo.recovery()
        demo.prometheus()
        demo.pod_local()
        if args.keep:
            step("Keeping everything running (Ctrl-C to stop)")
            print(
                f"  export KUBECONFIG={demo.cluster.kubeconfig}\n"
                f"  kubectl binary: {demo.cluster.bins.kubectl}\n  prometheus {demo.prom.url}"
            )
            while True:
                time.sleep(3600)
    except (common.EnvMissing, AssertionError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        demo.explain()
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
    step(f"Done; logs are in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

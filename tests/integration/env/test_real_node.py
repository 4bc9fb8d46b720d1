"""The real node (``tests/env/realnode``): containerd runs a pod and the kubelet probes it.

The pod's image is imported locally (Debian's static busybox, whose ``httpd`` serves the probe
paths from files); the test removes a file inside the running container and watches the kubelet
act on its own probe results: NotReady for readiness, a restart for liveness. Then the node is
stopped, fails a start half-way and is started again, and each time nothing may stay behind.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import TEST_NODE_SYNC
from tests.env import common, kube
from tests.env.common import wait_for
from tests.env.realnode import agents, dns, host, images
from tests.env.realnode import node as realnode

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
PORT = 8080


def probe(path: str, *, failures: int = 1) -> Obj:
    return {
        "httpGet": {"path": path, "port": PORT},
        "periodSeconds": 1,
        "failureThreshold": failures,
        "timeoutSeconds": 1,
    }


def web_pod(name: str, image: str, node: str) -> Obj:
    """busybox httpd serving /www; /www/ready and /www/alive are what its probes ask for."""
    script = f"echo ok >/www/ready && echo ok >/www/alive && exec httpd -f -p {PORT} -h /www"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,  # bound by name: the scheduler's part is tested elsewhere
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", script],
                    "readinessProbe": probe("/ready"),
                    "livenessProbe": probe("/alive", failures=2),
                }
            ],
        },
    }


def get_pod(cluster: kube.KubeCluster, namespace: str, name: str) -> Obj:
    pod: Obj = json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    return pod


def container(pod: Obj) -> Obj:
    statuses: list[Obj] = pod["status"].get("containerStatuses", [])
    return statuses[0] if statuses else {}


def test_pod_runs_from_a_local_image_and_the_kubelet_probes_it(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster, namespace: str
) -> None:
    image = real_node.import_image(images.busybox())
    kube_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(web_pod("web", image, real_node.name))
    )
    pod = wait_for("the pod Ready", lambda: _ready(kube_cluster, namespace, True), timeout=90)
    ip = ipaddress.ip_address(pod["status"]["podIP"])
    assert ip in ipaddress.ip_network(host.POD_CIDR)
    with urllib.request.urlopen(f"http://{ip}:{PORT}/ready", timeout=5) as resp:
        assert resp.read() == b"ok\n"

    exec_ = ("exec", "web", "-n", namespace, "--")
    kube_cluster.kubectl(*exec_, "rm", "/www/ready")
    pod = wait_for("readiness failing", lambda: _ready(kube_cluster, namespace, False), timeout=30)
    assert container(pod)["restartCount"] == 0  # readiness never restarts
    kube_cluster.kubectl(*exec_, "touch", "/www/ready")
    wait_for("Ready again", lambda: _ready(kube_cluster, namespace, True), timeout=30)

    kube_cluster.kubectl(*exec_, "rm", "/www/alive")
    wait_for(
        "the liveness restart",
        lambda: container(get_pod(kube_cluster, namespace, "web")).get("restartCount", 0) >= 1,
        timeout=60,
    )
    wait_for("Ready after the restart", lambda: _ready(kube_cluster, namespace, True), timeout=60)


def _ready(cluster: kube.KubeCluster, namespace: str, want: bool) -> Obj | None:
    pod = get_pod(cluster, namespace, "web")
    return pod if container(pod).get("ready", False) is want and container(pod) else None


def test_pods_have_no_route_out(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster, namespace: str
) -> None:
    """Only the node's range is routed (via the bridge); the FORWARD rule drops anything else."""
    image = real_node.import_image(images.busybox())
    manifest = web_pod("web", image, real_node.name)
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    wait_for("the pod Ready", lambda: _ready(kube_cluster, namespace, True), timeout=90)
    routes = kube_cluster.kubectl("exec", "web", "-n", namespace, "--", "ip", "route").stdout
    assert "default" not in routes
    assert f"{host.NODE_RANGE} via {host.BRIDGE_ADDRESS}" in routes
    forward = subprocess.run(
        ["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True
    )
    assert f"-s {host.NODE_RANGE} ! -d {host.NODE_RANGE}" in forward.stdout


def test_pods_resolve_services_by_name(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster, namespace: str
) -> None:
    """The kubelet hands pods the cluster's DNS (CoreDNS on the bridge's address): a Service's
    name resolves to its ClusterIP, and a name outside the cluster finds no answer (no upstream)."""
    image = real_node.import_image(images.busybox())
    pod = web_pod("web", image, real_node.name)
    pod["metadata"]["labels"] = {"app": "web"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": PORT}]},
    }
    items = {"apiVersion": "v1", "kind": "List", "items": [pod, service]}
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(items))
    wait_for("the pod Ready", lambda: _ready(kube_cluster, namespace, True), timeout=90)
    exec_ = ("exec", "web", "-n", namespace, "--")
    resolv = kube_cluster.kubectl(*exec_, "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {dns.ADDRESS}" in resolv
    assert f"search {namespace}.svc.{dns.DOMAIN}" in resolv
    cluster_ip = kube_cluster.kubectl(
        "get", "service", "web", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    name = f"web.{namespace}.svc.{dns.DOMAIN}"
    found = kube_cluster.kubectl(*exec_, "busybox", "nslookup", "-type=A", name).stdout
    assert f"Address: {cluster_ip}" in found
    outside = kube_cluster.kubectl(
        *exec_, "busybox", "nslookup", "-type=A", "healthgate.invalid", check=False
    )
    # REFUSED: CoreDNS serves no zone of that name and asks no other server.
    assert "can't find healthgate.invalid: REFUSED" in outside.stdout + outside.stderr


def test_cluster_dns_identity_only_lists_and_watches(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster
) -> None:
    """CoreDNS's identity has the rights of ``system:coredns``: list and watch what names are
    made of, no Secret, no write."""
    as_dns = real_node.workdir / "dns" / "coredns.kubeconfig"

    def can_i(*args: str) -> str:
        argv = [str(kube_cluster.bins.kubectl), f"--kubeconfig={as_dns}", "auth", "can-i", *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()

    assert can_i("watch", "endpointslices.discovery.k8s.io", "-A") == "yes"
    assert can_i("list", "services", "-A") == "yes"
    assert can_i("list", "secrets", "-A") == "no"
    assert can_i("create", "services", "-n", "default") == "no"


def test_node_identity_is_its_own(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster
) -> None:
    """The kubelet is system:node:<name> (the Node authorizer limits it) and its API demands
    authentication: the API server's own client certificate gets in, anonymous callers do not."""
    as_node = real_node.workdir / "kubelet" / "kubelet.kubeconfig"
    secrets = subprocess.run(
        [kube_cluster.bins.kubectl, f"--kubeconfig={as_node}", "get", "secrets", "-A"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert secrets.returncode != 0
    assert "forbidden" in secrets.stderr
    raw = f"/api/v1/nodes/{real_node.name}/proxy/healthz"
    assert kube_cluster.kubectl("get", "--raw", raw).stdout == "ok"
    config = json.loads((real_node.workdir / "kubelet" / "kubelet.json").read_text())
    trust_kubelet = ssl.create_default_context(cafile=str(kube_cluster.ca.cert))
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(  # no client certificate, no token
            f"https://{agents.NODE_IP}:{config['port']}/pods", context=trust_kubelet, timeout=5
        )
    assert anonymous.value.code == 401


def test_kubelet_syncs_pods_at_the_test_period(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster
) -> None:
    """The configuration the kubelet runs with (its /configz), not only the file we wrote:
    the ConfigMap-volume tests rely on the short sync period."""
    raw = f"/api/v1/nodes/{real_node.name}/proxy/configz"
    running = json.loads(kube_cluster.kubectl("get", "--raw", raw).stdout)["kubeletconfig"]
    assert running["syncFrequency"] == TEST_NODE_SYNC


def test_stop_and_failed_start_leave_nothing(
    real_node: realnode.RealNode, kube_cluster: kube.KubeCluster, namespace: str
) -> None:
    """Stopped with a pod running (containers, a netns, volume mounts), then a start that fails
    after every process is up: the machine is as before each time. The node ends up running."""
    image = real_node.import_image(images.busybox())
    manifest = web_pod("web", image, real_node.name)
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    wait_for("the pod Ready", lambda: _ready(kube_cluster, namespace, True), timeout=90)
    assert host.mounts_under(real_node.workdir)  # else the check below proves little
    real_node.stop()
    assert host.leftovers(real_node.workdir, real_node.changes) == []
    with pytest.raises(common.EnvMissing, match="not ready"):
        real_node.start(timeout=0)
    assert host.leftovers(real_node.workdir, real_node.changes) == []
    real_node.start()

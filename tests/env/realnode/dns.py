"""Cluster DNS for the real node: CoreDNS on the bridge's own address, serving only the cluster.

Pods resolve Services by name as in any cluster: the kubelet's ``clusterDNS`` names
:data:`ADDRESS`, and CoreDNS (built from the Go module proxy with only the plugins used,
``tests/env/coredns``) answers from the API server through its ``kubernetes`` plugin. It runs as
a process on this machine, like the relays (:mod:`.relay`), listening on the bridge's address
(the only address pods have a route to) and started and stopped with the node.

There is no ``forward`` plugin: tests send traffic only to loopback and to their own pods, so a
name outside the cluster is never asked of another server. CoreDNS refuses a zone it does not
serve (REFUSED), and the ``kubernetes`` plugin answers NXDOMAIN for a name in its zones that no
object has (no ``fallthrough``: nothing comes after it to fall through to).

Its identity is a client certificate for :data:`USER`, bound to a ClusterRole with the rights of
CoreDNS's own ``system:coredns``: list and watch, nothing else.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.env import common, kube, versions
from tests.env.realnode import host

ADDRESS = host.BRIDGE_ADDRESS
PORT = 53  # a resolv.conf names no port
DOMAIN = "cluster.local"
# The reverse zones too, so a pod's or a Service's address resolves back to its name.
ZONES = (DOMAIN, "in-addr.arpa", "ip6.arpa")
USER = "system:healthgate:coredns"
ROLE = "healthgate:coredns"  # ClusterRole and ClusterRoleBinding
LOOPBACK = "127.0.0.1"  # health and readiness endpoints, for us only


def binary() -> Path:
    """CoreDNS, built once into the cache (:func:`tests.env.common.go_component`)."""
    return common.go_component("coredns", versions.COREDNS) / "coredns"


def rbac() -> list[dict[str, object]]:
    """The rules of CoreDNS's ``system:coredns`` ClusterRole, bound to :data:`USER`."""
    verbs = ["list", "watch"]
    role: dict[str, object] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": ROLE},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": verbs},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": verbs},
        ],
    }
    binding: dict[str, object] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }
    return [role, binding]


def corefile(kubeconfig: Path, *, health: int, ready: int) -> str:
    """One server block for the cluster's zones on :data:`ADDRESS`; nothing else is served."""
    zones = " ".join(f"{zone}:{PORT}" for zone in ZONES)
    return (
        f"{zones} {{\n"
        f"    bind {ADDRESS}\n"
        "    errors\n"
        "    log {\n"  # only the failed lookups: what a failing test needs to see
        "        class denial error\n"
        "    }\n"
        f"    health {LOOPBACK}:{health}\n"
        f"    ready {LOOPBACK}:{ready}\n"
        f"    kubernetes {' '.join(ZONES)} {{\n"
        f"        kubeconfig {kubeconfig}\n"  # its current context: the only one
        "        pods insecure\n"
        "    }\n"
        "    cache 30\n"
        "}\n"
    )


def start(cluster: kube.KubeCluster, workdir: Path, *, coredns: Path) -> common.Process:
    """CoreDNS with its own identity; returns once its ``kubernetes`` plugin has synced."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac()})
    )
    pair = cluster.ca.issue("coredns", USER, client=True)
    kubeconfig = workdir / "coredns.kubeconfig"
    kube.write_kubeconfig(
        kubeconfig, server=cluster.server, ca=cluster.ca.pem, client=pair, user=USER
    )
    ready = common.free_port()
    config = workdir / "Corefile"
    config.write_text(corefile(kubeconfig, health=common.free_port(), ready=ready))
    # The Corefile's path names workdir, so host.processes_mentioning finds a CoreDNS left behind.
    proc = common.spawn("coredns", [coredns, "-conf", str(config)], log_dir=workdir)
    common.wait_until("CoreDNS ready", lambda: _ready(ready), timeout=30, proc=proc)
    return proc


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def withdraw(cluster: kube.KubeCluster) -> None:
    """Remove the identity's ClusterRole and binding: with CoreDNS gone nobody uses them."""
    for kind in ("clusterrolebinding", "clusterrole"):
        cluster.kubectl("delete", kind, ROLE, "--ignore-not-found", check=False)

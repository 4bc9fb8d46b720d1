"""The ``kubernetes`` Service for pods on the real node: a relay to the loopback API server.

The API server listens on loopback only (nothing off this machine may reach it), which pods in
their own network namespaces cannot reach. A TCP relay (:mod:`.relay`) listens on the bridge's
own address, inside the node's range, and forwards to the API server; the ``kubernetes``
Service's endpoints name the relay (the API server's endpoint reconciler is off: it would
publish its loopback address, which an Endpoints object refuses). A pod's in-cluster client
dials the Service's ClusterIP, kube-proxy rewrites that to the relay, and TLS passes through
untouched: the serving certificate names the ClusterIP (:data:`tests.env.kube.API_HOSTS`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.env import common, kube
from tests.env.realnode import host, relay

SERVICE = "kubernetes"
NAMESPACE = "default"
PORT_NAME = "https"  # the port name the API server gives its own Service
MANAGER = "healthgate-env"  # endpointslice.kubernetes.io/managed-by: not a controller's name


def start_relay(cluster: kube.KubeCluster, workdir: Path) -> tuple[common.Process, int]:
    """The relay on the bridge's address to the API server (:mod:`.relay`)."""
    found = relay.start("apiserver-relay", cluster.server.removeprefix("https://"), workdir)
    return found.process, found.port


def endpoints(port: int) -> list[dict[str, Any]]:
    """The Service's EndpointSlice (what kube-proxy reads) and Endpoints (what older clients
    read; labelled so that the mirroring controller does not make a second slice of it)."""
    meta = {"name": SERVICE, "namespace": NAMESPACE}
    slice_: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            **meta,
            "labels": {
                "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": MANAGER,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host.BRIDGE_ADDRESS], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    }
    legacy: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {**meta, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [
            {
                "addresses": [{"ip": host.BRIDGE_ADDRESS}],
                "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
            }
        ],
    }
    return [slice_, legacy]


def publish(cluster: kube.KubeCluster, port: int) -> None:
    manifest = {"apiVersion": "v1", "kind": "List", "items": endpoints(port)}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def withdraw(cluster: kube.KubeCluster) -> None:
    """Remove the endpoints: with the relay gone they would lead nowhere."""
    for kind in ("endpointslice", "endpoints"):
        cluster.kubectl("delete", kind, SERVICE, "-n", NAMESPACE, "--ignore-not-found", check=False)

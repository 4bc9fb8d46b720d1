"""The Node object and its heartbeats: what a kubelet does so the control plane trusts a node.

The node registers itself with a Ready condition, capacity and node info, then renews its Lease in
``kube-node-lease`` every :data:`LEASE_RENEW_SECONDS` and refreshes the Ready condition's heartbeat
every :data:`STATUS_SECONDS`. The node lifecycle controller of kube-controller-manager watches both:
a node whose Lease goes stale for its grace period (50 s) is marked Unknown, tainted, and its pods
evicted, so these loops are what keeps the pods alive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import platform

from tests.env import versions
from tests.env.node import api

log = logging.getLogger("healthgate.node.registration")

LEASE_RENEW_SECONDS = 10.0  # the kubelet's default: a quarter of the 40 s lease duration
LEASE_DURATION_SECONDS = 40
RETRY_SECONDS = 1.0
STATUS_SECONDS = 20.0  # well inside the controller's 50 s node-monitor grace period
CAPACITY = {"cpu": "16", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"}
HOST_IP = "127.0.0.1"


def now() -> str:
    """RFC 3339 with second precision: the format of metav1.Time."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """metav1.MicroTime, the format of a Lease's renewTime."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_manifest(name: str) -> api.Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "healthgate.io/local-node": "true",
            },
            "annotations": {"healthgate.io/emulated": "tests/env/node: processes, not containers"},
        },
        "spec": {},
    }


def node_status(name: str, started: str) -> api.Obj:
    stamp = now()

    def condition(kind: str, status: str, reason: str, message: str) -> api.Obj:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": started,
        }

    return {
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "addresses": [
            {"type": "InternalIP", "address": HOST_IP},
            {"type": "Hostname", "address": name},
        ],
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            condition("Ready", "True", "KubeletReady", "local node is posting ready status"),
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": started,
            "kernelVersion": platform.release(),
            "osImage": "HealthGate local node (processes on loopback)",
            "containerRuntimeVersion": "local://0.1.0",
            "kubeletVersion": versions.KUBERNETES,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


class Registration:
    """Registers the Node and keeps it and its Lease fresh until cancelled."""

    def __init__(self, client: api.Api, name: str) -> None:
        self.api, self.name = client, name
        self.started = now()
        self.uid = ""

    async def register(self) -> None:
        try:
            # With its Ready status from the start: a Node created without one gets the
            # not-ready taint, and the scheduler skips it until the controller lifts it.
            manifest = {**node_manifest(self.name), "status": node_status(self.name, self.started)}
            node = await self.api.create("/api/v1/nodes", manifest)
        except api.ApiError as exc:
            if exc.status != 409:
                raise
            node = await self.api.get(f"/api/v1/nodes/{self.name}")  # re-registering: adopt it
        self.uid = node["metadata"]["uid"]
        await self.post_status()  # a node adopted from an earlier run needs fresh heartbeats
        await self.renew_lease()

    async def wait_schedulable(self, timeout: float = 60.0) -> None:
        """Until the node lifecycle controller lifted the not-ready taint.

        The API server's TaintNodesByCondition admission taints every new Node
        ``node.kubernetes.io/not-ready:NoSchedule``; the controller removes it once it sees the
        Ready condition, which takes a few seconds on a control plane that is just starting.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            node = await self.api.get(f"/api/v1/nodes/{self.name}")
            taints = node["spec"].get("taints") or []
            if not any(t["key"] == "node.kubernetes.io/not-ready" for t in taints):
                return
            await asyncio.sleep(0.5)
        log.warning("node %s still tainted not-ready after %.0fs", self.name, timeout)

    async def post_status(self) -> None:
        body = {"status": node_status(self.name, self.started)}
        await self.api.patch(f"/api/v1/nodes/{self.name}/status", body)

    async def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": now_micro(),
        }
        try:
            await self.api.patch(path, {"spec": spec})
        except api.ApiError as exc:
            if exc.status != 404:
                raise
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.uid}
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                # Owned by the Node, as the kubelet does, so deleting the Node collects it.
                "metadata": {"name": self.name, "ownerReferences": [owner]},
                "spec": spec,
            }
            await self.api.create(path.rsplit("/", 1)[0], lease)

    async def heartbeat(self) -> None:
        """Forever: renew the Lease often and the Ready heartbeat less often; survive errors."""
        loop = asyncio.get_running_loop()
        next_status = loop.time() + STATUS_SECONDS
        wait = LEASE_RENEW_SECONDS
        while True:
            await asyncio.sleep(wait)
            try:
                await self.renew_lease()
                if loop.time() >= next_status:
                    await self.post_status()
                    next_status = loop.time() + STATUS_SECONDS
                wait = LEASE_RENEW_SECONDS
            except api.TRANSIENT as exc:
                # Like the kubelet's lease controller: retry soon, not a whole round later.
                wait = RETRY_SECONDS
                log.warning("heartbeat failed, retrying in %.0fs: %r", wait, exc)

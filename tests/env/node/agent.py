"""The node agent: registration, the watches, one :class:`pods.PodWorker` per bound pod.

Three watches feed everything (pods bound to this node, ConfigMaps, Secrets), so a pod's start
never waits on a GET and 50+ pods cost one connection each way, not one per pod. ConfigMaps and
Secrets are cached from their watches; a change wakes exactly the pods that mount them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import sys
from pathlib import Path

import aiohttp

from tests.env.node import api, pods, registration

log = logging.getLogger("healthgate.node")

FIRST_IP = ipaddress.IPv4Address("127.0.1.1")
LAST_IP = ipaddress.IPv4Address("127.0.255.254")
STOP_GRACE = 5.0


class IpPool:
    """Loopback addresses 127.0.1.1 upward, one per pod (all of 127/8 reaches ``lo``)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def allocate(self, preferred: str | None = None) -> str:
        if preferred and preferred not in self.used and self._in_range(preferred):
            self.used.add(preferred)  # a pod this node ran before keeps its address
            return preferred
        address = FIRST_IP
        while str(address) in self.used or str(address).endswith((".0", ".255")):
            address += 1
            if address > LAST_IP:
                raise RuntimeError("no loopback address left for another pod")
        self.used.add(str(address))
        return str(address)

    def release(self, address: str) -> None:
        self.used.discard(address)

    @staticmethod
    def _in_range(address: str) -> bool:
        try:
            return FIRST_IP <= ipaddress.IPv4Address(address) <= LAST_IP
        except ValueError:
            return False


class NodeAgent:
    """Everything one local node does; :meth:`run` until cancelled, then :meth:`stop`."""

    def __init__(self, kubeconfig: Path, name: str, workdir: Path, *, backoff: float) -> None:
        self.api = api.Api(kubeconfig)
        self.name, self.workdir, self.backoff = name, workdir, backoff
        self.registration = registration.Registration(self.api, name)
        self.ips = IpPool()
        self.workers: dict[str, pods.PodWorker] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.background: list[asyncio.Task[None]] = []
        self.configmaps = api.Reflector(self.api, "/api/v1/configmaps", self._on_configmap)
        self.secrets = api.Reflector(self.api, "/api/v1/secrets", self._on_secret)
        self.pods = api.Reflector(
            self.api, "/api/v1/pods", self._on_pod, fieldSelector=f"spec.nodeName={name}"
        )
        self._probe_session: aiohttp.ClientSession | None = None

    def lookup(self, kind: str, namespace: str, name: str) -> api.Obj | None:
        store = self.configmaps.store if kind == "ConfigMap" else self.secrets.store
        return store.get(f"{namespace}/{name}")

    def base_env(self) -> dict[str, str]:
        """What every process gets before its spec's env (an image would supply PATH etc.)."""
        host, _, port = self.api.server.removeprefix("https://").rpartition(":")
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",  # like many images; nothing writes there
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",  # logs reach the log file as they are written
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
        }

    async def run(self) -> None:
        await self.registration.register()
        for reflector in (self.configmaps, self.secrets):
            self.background.append(asyncio.create_task(reflector.run()))
        await asyncio.gather(self.configmaps.synced.wait(), self.secrets.synced.wait())
        self.background.append(asyncio.create_task(self.pods.run()))
        await self.pods.synced.wait()
        self.background.append(asyncio.create_task(self.registration.heartbeat()))
        await self.registration.wait_schedulable()
        (self.workdir / "ready").write_text(f"{os.getpid()}\n")
        log.info("node %s ready, %d pod(s) adopted", self.name, len(self.workers))
        await asyncio.gather(*self.background)

    @property
    def probe_session(self) -> aiohttp.ClientSession:
        if self._probe_session is None:
            # force_close: a new connection per probe, as the kubelet's prober does
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            self._probe_session = aiohttp.ClientSession(connector=connector)
        return self._probe_session

    async def _on_pod(self, kind: str, pod: api.Obj) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker is not None:
                worker.deleted = True
                worker.wake()
            return
        if worker is not None:
            worker.update(pod)
            return
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if terminal and not pod["metadata"].get("deletionTimestamp"):
            return  # finished before this node (re)started: never run a finished pod again
        self._add(pod)  # even when being deleted: only a node finalises its pods' deletion

    def _add(self, pod: api.Obj) -> None:
        meta = pod["metadata"]
        previous = (pod.get("status") or {}).get("podIP")
        host_network = bool(pod["spec"].get("hostNetwork"))
        ip = registration.HOST_IP if host_network else self.ips.allocate(previous)
        slug = f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        worker = pods.PodWorker(
            pod,
            client=self.api,
            ip=ip,
            root=self.workdir / "pods" / slug,
            logs=self.workdir / "logs" / slug,  # kept after the pod is gone, for post-mortems
            lookup=self.lookup,
            session=self.probe_session,
            base_env=self.base_env(),
            backoff=self.backoff,
        )
        self.workers[meta["uid"]] = worker
        self.tasks[meta["uid"]] = asyncio.create_task(worker.run(self._gone))
        log.info("pod %s bound here, ip %s", worker.name, ip)

    def _gone(self, worker: pods.PodWorker) -> None:
        uid = worker.pod["metadata"]["uid"]
        self.workers.pop(uid, None)
        self.tasks.pop(uid, None)
        if worker.ip != registration.HOST_IP:
            self.ips.release(worker.ip)

    async def _on_configmap(self, kind: str, obj: api.Obj) -> None:
        self._resync("ConfigMap", obj)

    async def _on_secret(self, kind: str, obj: api.Obj) -> None:
        self._resync("Secret", obj)

    def _resync(self, kind: str, obj: api.Obj) -> None:
        """Wake the pods that mount this object so they rewrite its files."""
        ref = (kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for worker in list(self.workers.values()):
            if ref in worker.references():
                worker.volumes_dirty = True
                worker.wake()

    async def stop(self) -> None:
        """Stop watching, stop every process (SIGTERM, then SIGKILL after the grace period)."""
        for task in self.background:
            task.cancel()
        workers = list(self.workers.values())
        await asyncio.gather(*(w.terminate(min(w.grace(), STOP_GRACE)) for w in workers))
        for task in list(self.tasks.values()):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks.values(), *self.background, return_exceptions=True)
        if self._probe_session is not None:
            await self._probe_session.close()
        await self.api.close()
        shutil.rmtree(self.workdir / "pods", ignore_errors=True)
        (self.workdir / "ready").unlink(missing_ok=True)

"""One pod on the local node: its directory, volumes, containers in order, and status writes.

A :class:`PodWorker` is one asyncio task that sleeps until something is worth a look (the pod
changed, a referenced ConfigMap or Secret changed, a process exited, a probe result flipped,
a back-off ended), then reconciles: sync volumes, start what may start, write the status if it
differs from what it last wrote. Ordering is the kubelet's: native sidecars (init containers with
``restartPolicy: Always``) start one by one, each after the previous one has *started* (its
startup probe succeeded, or its process runs when it has none); a regular init container runs to
completion before the next one; main containers start together once the pod is initialized.
On deletion it stops main containers, then sidecars in reverse order, each within the pod's grace
period (capped at 5 s), and finalises the deletion with a grace-0 delete as the kubelet does.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.env.node import (
    api,
    containers,
    envvars,
    events,
    podspec,
    registration,
    status,
    volumes,
)

log = logging.getLogger("healthgate.node.pods")

MAX_GRACE = 5.0  # seconds: a test environment has no reason to wait out 30 s grace periods


class PodWorker:
    """Runs one pod until it is deleted; see the module doc."""

    def __init__(
        self,
        pod: api.Obj,
        *,
        client: api.Api,
        ip: str,
        root: Path,
        logs: Path,
        lookup: volumes.Lookup,
        session: aiohttp.ClientSession,
        base_env: dict[str, str],
        backoff: float,
    ) -> None:
        self.pod, self.api, self.ip, self.root, self.lookup = pod, client, ip, root, lookup
        self.base_env = base_env
        self.wake_event = asyncio.Event()
        self.volumes_dirty = True
        self.volume_dirs: dict[str, Path] = {}
        self.initialized_once = False
        self.last_written: api.Obj | None = None
        self.conditions: list[api.Obj] = list((pod.get("status") or {}).get("conditions") or [])
        self.start_time = (pod.get("status") or {}).get("startTime") or registration.now()
        context = containers.PodContext(
            ip=ip,
            logs=logs,
            wake=self.wake,
            prepare=self.prepare,
            session=session,
            backoff=backoff,
            grace=float(pod["spec"].get("terminationGracePeriodSeconds", 30)),
            restart_policy=pod["spec"].get("restartPolicy", "Always"),
            events=events.Recorder(client, pod, pod["spec"].get("nodeName", "")),
        )
        spec = pod["spec"]
        self.init = [containers.Container(c, True, context) for c in spec.get("initContainers", [])]
        self.main = [containers.Container(c, False, context) for c in spec.get("containers", [])]
        self.deleted = False  # gone from the API (a force delete): stop at once, no finalising
        self.wake()

    @property
    def name(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    @property
    def path(self) -> str:
        meta = self.pod["metadata"]
        return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"

    def wake(self) -> None:
        self.wake_event.set()

    def update(self, pod: api.Obj) -> None:
        self.pod = pod
        self.wake()

    def references(self) -> set[tuple[str, str, str]]:
        """ConfigMaps and Secrets whose change must re-sync this pod's volumes."""
        refs: set[tuple[str, str, str]] = set()
        namespace = self.pod["metadata"]["namespace"]
        for volume in self.pod["spec"].get("volumes") or []:
            sources = [volume, *(volume.get("projected") or {}).get("sources", [])]
            for source in sources:
                if "configMap" in source:
                    refs.add(("ConfigMap", namespace, source["configMap"].get("name", "")))
                if "secret" in source:
                    secret = source["secret"]
                    refs.add(("Secret", namespace, secret.get("secretName") or secret.get("name")))
        for container in [
            *self.pod["spec"].get("initContainers", []),
            *self.pod["spec"]["containers"],
        ]:
            refs.update(envvars.references(container, namespace))
        return refs

    async def run(self, on_gone: Callable[[PodWorker], None]) -> None:
        """Reconcile on every wake until the pod is deleted; always clean up behind."""
        try:
            while not self._leaving():
                await self.wake_event.wait()
                self.wake_event.clear()
                if not self._leaving():
                    await self.reconcile()
                await asyncio.sleep(0)  # a wake during reconcile must not starve the other pods
            await self.terminate(self.grace())
            if not self.deleted:  # a force-deleted pod is already gone from the API
                await self._finalize()
        finally:
            await self.terminate(0.0)
            shutil.rmtree(self.root, ignore_errors=True)
            on_gone(self)

    def _leaving(self) -> bool:
        return self.deleted or bool(self.pod["metadata"].get("deletionTimestamp"))

    async def reconcile(self) -> None:
        if self.volumes_dirty:
            self._sync_volumes()
        if self.volume_dirs:
            await self._start_in_order()
        await self._write_status()

    def _sync_volumes(self) -> None:
        """Write every volume; a missing source blocks a first start only, as in the kubelet."""
        dirs: dict[str, Path] = {}
        try:
            for volume in self.pod["spec"].get("volumes") or []:
                target = self.root / "volumes" / volume["name"]
                files = volumes.payload(volume, self._view(), self.lookup)
                if files is None:
                    target.mkdir(parents=True, exist_ok=True)
                elif volumes.write_atomic(target, files) and self.volume_dirs:
                    log.info("%s: volume %s updated", self.name, volume["name"])
                dirs[volume["name"]] = target
        except podspec.Missing as exc:
            if not self.volume_dirs:
                for c in [*self.init, *self.main]:
                    c.reason, c.message = "ContainerCreating", f"MountVolume.SetUp failed: {exc}"
            asyncio.get_running_loop().call_later(2.0, self._retry_volumes)
            return
        self.volume_dirs, self.volumes_dirty = dirs, False

    def _retry_volumes(self) -> None:
        self.volumes_dirty = True
        self.wake()

    async def _start_in_order(self) -> None:
        if self.initialized_once:
            for c in [*self.init, *self.main]:
                if podspec.is_sidecar(c.spec) or not c.init:
                    await c.ensure_started()
            return
        for c in self.init:
            await c.ensure_started()
            if podspec.is_sidecar(c.spec) and not (c.state == "running" and c.started):
                return
            if not podspec.is_sidecar(c.spec) and not (c.done and c.exit_code == 0):
                return
        self.initialized_once = True
        for c in self.main:
            await c.ensure_started()

    def _view(self) -> api.Obj:
        """The pod as its containers see it: with the IP this node gave it."""
        addresses = {
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "hostIP": registration.HOST_IP,
            "hostIPs": [{"ip": registration.HOST_IP}],
        }
        return {**self.pod, "status": {**(self.pod.get("status") or {}), **addresses}}

    def prepare(self, spec: api.Obj) -> containers.Launch:
        """argv and env of one start (see :mod:`podspec` for the path and host rules)."""
        defined = envvars.resolve(spec, self._view(), self.lookup)
        pairs = podspec.mounts(spec, self.volume_dirs)
        env = {**self.base_env, "HOSTNAME": self.pod["metadata"]["name"]}
        env.update({k: podspec.rewrite(v, pairs) for k, v in defined.items()})
        if env.get("HEALTHGATE_HOST", "") in podspec.WILDCARDS:
            env["HEALTHGATE_HOST"] = self.ip
        words = [podspec.rewrite(envvars.expand(w, defined), pairs) for w in podspec.argv(spec)]
        words = podspec.bind_host(words, self.ip)
        name = podspec.program(spec)
        if name is not None:
            words[0] = podspec.program_path(name)
        return containers.Launch(argv=words, env=env)

    def build_status(self) -> api.Obj:
        view = self._view()["status"]
        fresh = status.conditions(self.pod, self.init, self.main, once=self.initialized_once)
        owned = status.stamp(fresh, self.conditions)
        existing = (self.pod.get("status") or {}).get("conditions") or []
        body: api.Obj = {
            "phase": status.phase(self.init, self.main, once=self.initialized_once),
            "podIP": view["podIP"],
            "podIPs": view["podIPs"],
            "hostIP": view["hostIP"],
            "hostIPs": view["hostIPs"],
            "startTime": self.start_time,
            "conditions": status.merge_conditions(owned, existing),
            "containerStatuses": [status.container_status(c) for c in self.main],
        }
        if self.init:
            body["initContainerStatuses"] = [status.container_status(c) for c in self.init]
        return body

    async def _write_status(self) -> None:
        body = self.build_status()
        if body == self.last_written:
            return  # nothing changed: no write (50 pods must not storm the API server)
        try:
            await self.api.patch(self.path + "/status", {"status": body})
        except api.TRANSIENT as exc:
            log.warning("%s: status write failed, retrying: %r", self.name, exc)
            asyncio.get_running_loop().call_later(1.0, self.wake)
            return
        self.last_written = body
        self.conditions = [c for c in body["conditions"] if c.get("lastTransitionTime")]

    def grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
        return min(float(grace if grace is not None else 30), MAX_GRACE)

    async def terminate(self, grace: float) -> None:
        """Main containers together, then sidecars in reverse order (the kubelet's order)."""
        await asyncio.gather(*(c.kill(grace) for c in self.main))
        for c in reversed(self.init):
            await c.kill(grace)

    async def _finalize(self) -> None:
        uid = self.pod["metadata"]["uid"]
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            await self.api.delete(self.path, body)
        except api.ApiError as exc:
            if exc.status not in (404, 409):
                log.warning("%s: final delete failed: %r", self.name, exc)
        log.info("%s: stopped and removed", self.name)

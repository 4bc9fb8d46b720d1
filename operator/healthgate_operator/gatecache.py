"""An in-memory copy of every HealthGate, kept current by a watch: the webhook's lookup table.

Why not a LIST per admission: with 100 gates in a namespace the LIST alone took ~33 ms (half a
megabyte of JSON with managedFields), far over the 25 ms admission budget. Why not Kopf's
indices: Kopf stops watching in a replica that peering puts on standby, yet the API server sends
admissions to every replica behind the Service. So every replica runs this small list+watch.

Trade-off, documented: a pod created within milliseconds of its gate (before the watch event
arrives) is admitted without the sidecar; the status shows it as not injected and
``rollout.restartOnChange`` repairs it.

Read from two threads: the status rounds on the operator's loop, admission on its own
(webhook.py). Only the loop's thread writes, and it never changes a namespace's mapping once
published: each event swaps in a new one (one dict item assignment, atomic under the GIL), so a
reader holds a consistent view without a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import MappingProxyType

from healthgate_operator import constants
from healthgate_operator.backoff import Backoff
from healthgate_operator.builders import conditions
from healthgate_operator.kube import Kube, KubeError
from healthgate_operator.kubetypes import Json

logger = logging.getLogger(__name__)
WATCH_SECONDS = 300
SYNC_WAIT_SECONDS = 2.0  # an admission waits this long for the first sync, then LISTs
EMPTY: Mapping[str, Json] = MappingProxyType({})


def slim(gate: Json) -> Json:
    """Only what admission, conflict detection and the status rounds read: names, uid, deletion
    mark, spec, and the Reconciled condition (a gate whose ConfigMap is not written must not
    inject)."""
    meta = gate.get("metadata", {})
    reconciled = conditions.find((gate.get("status") or {}).get("conditions"), "Reconciled")
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "deletionTimestamp": meta.get("deletionTimestamp"),
        },
        "spec": gate.get("spec") or {},
        "status": {"conditions": [reconciled] if reconciled else []},
    }


class GateCache:
    """Gates by namespace and name; :meth:`run` keeps it in sync until cancelled.

    Subclasses follow another kind by overriding the class attributes and :meth:`keep`.
    """

    prefix = f"/apis/{constants.API_VERSION}"
    plural = constants.PLURAL
    label_selector = ""

    def keep(self, obj: Json) -> Json:
        """What is kept of each object (memory: only what readers need)."""
        return slim(obj)

    def __init__(self, kube: Kube, namespaces: tuple[str, ...] = ()) -> None:
        self.kube = kube
        self.namespaces = namespaces
        self.synced = asyncio.Event()
        self._gates: dict[str, dict[str, Json]] = {}
        self._synced_paths: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def view(self, namespace: str) -> Mapping[str, Json]:
        """The namespace's gates by name, as of now; never changed afterwards (safe from any
        thread)."""
        return self._gates.get(namespace, EMPTY)

    def gates(self, namespace: str) -> list[Json]:
        return list(self.view(namespace).values())

    def get(self, namespace: str, name: str) -> Json | None:
        return self.view(namespace).get(name)

    def cached(self, namespace: str) -> list[Json] | None:
        """The namespace's gates without waiting, from any thread; None before the first sync."""
        return self.gates(namespace) if self.synced.is_set() else None

    async def snapshot(self, namespace: str) -> list[Json]:
        """The namespace's gates; a direct LIST while the first sync is still pending. Only on
        the operator's loop (the API client and the event live there)."""
        if not self.synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.synced.wait(), SYNC_WAIT_SECONDS)
        if self.synced.is_set():
            return self.gates(namespace)
        return [self.keep(g) for g in await self.kube.list_gates(namespace)]

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"healthgate {self.plural} cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _paths(self) -> dict[str, str | None]:
        """Collection path -> the namespace it covers (None: all of them)."""
        if not self.namespaces:
            return {f"{self.prefix}/{self.plural}": None}
        return {f"{self.prefix}/namespaces/{ns}/{self.plural}": ns for ns in self.namespaces}

    def _selector(self) -> list[tuple[str, str]]:
        return [("labelSelector", self.label_selector)] if self.label_selector else []

    async def run(self) -> None:
        paths = self._paths()
        await asyncio.gather(*(self._follow(path, ns, len(paths)) for path, ns in paths.items()))

    async def _follow(self, path: str, namespace: str | None, total: int) -> None:
        """LIST, then WATCH from its resourceVersion; on any error, back off and start over."""
        backoff = Backoff()
        while True:
            try:
                version = await self._relist(path, namespace)
                self._synced_paths.add(path)
                if len(self._synced_paths) == total:
                    self.synced.set()
                backoff.reset()
                while True:
                    version = await self._watch(path, version)
            except (KubeError, ValueError) as exc:
                self._synced_paths.discard(path)  # not current until a LIST succeeds again
                logger.warning("Cache of %s resyncs in %.0fs: %s", self.plural, backoff.delay, exc)
                await backoff.wait()

    async def _list(self, path: str) -> tuple[list[Json], str]:
        """Every object under ``path``, kept, and the list's resourceVersion (one LIST)."""
        body = await self.kube.request("GET", path, query=self._selector())
        return [self.keep(i) for i in body.get("items", [])], str(
            body.get("metadata", {}).get("resourceVersion", "")
        )

    async def _relist(self, path: str, namespace: str | None) -> str:
        items, version = await self._list(path)
        fresh: dict[str, dict[str, Json]] = {}
        for item in items:
            meta = item["metadata"]
            fresh.setdefault(meta["namespace"], {})[meta["name"]] = item
        for ns in list(self._gates) if namespace is None else [namespace]:
            if ns not in fresh:
                self._replace(ns, {})
        for ns, objects in fresh.items():
            self._replace(ns, objects)
        return version

    def _replace(self, namespace: str, objects: dict[str, Json]) -> None:
        """Publish the namespace's objects after a LIST (subclasses keep their indexes here)."""
        self._gates[namespace] = objects

    async def _watch(self, path: str, version: str) -> str:
        query = [
            ("watch", "1"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
            *self._selector(),
        ]
        async for event in self.kube.stream(path, query, read_timeout=WATCH_SECONDS + 30):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise KubeError(int(obj.get("code", 0)), str(obj.get("message", "watch error")))
            meta = obj.get("metadata", {})
            version = str(meta.get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED"):
                self._put(meta["namespace"], meta["name"], self.keep(obj))
            elif kind == "DELETED":
                self._put(meta["namespace"], meta["name"], None)
        return version

    def _put(self, namespace: str, name: str, kept: Json | None) -> None:
        """Publish a new mapping for the namespace (copy on write; see the module docstring)."""
        fresh = dict(self.view(namespace))
        if kept is None:
            fresh.pop(name, None)
        else:
            fresh[name] = kept
        self._gates[namespace] = fresh


class ConfigMapCache(GateCache):
    """Our ConfigMaps (label-selected: never anyone else's), to notice hand edits and deletions.

    A watch, not a GET per gate and refresh: with 200 gates every 10 s that would be 20 reads a
    second for changes that almost never happen.
    """

    prefix = "/api/v1"
    plural = "configmaps"
    label_selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}"

    def keep(self, obj: Json) -> Json:
        meta = obj.get("metadata", {})
        return {
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "labels": meta.get("labels") or {},
                "ownerReferences": meta.get("ownerReferences") or [],
            },
            "data": obj.get("data") or {},
        }

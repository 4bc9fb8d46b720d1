"""Every pod in scope, slim, kept current by one watch: where the status rounds find a gate's pods.

Why not a LIST per gate and round: at 1,000 gates every 10 s that was 100 LISTs a second, and
decoding them was 22 % of the rounds' CPU (14 % the JSON alone), decoded again each round
though pods rarely change; and each decode held the event loop the webhook answers on. A watch
decodes a pod once per change. The cache is the one controller-runtime and client-go
informers keep (list, then watch from the list's resourceVersion, relist on a 410), the same
small loop as the gate cache (:mod:`healthgate_operator.gatecache`).

Why all pods in scope and not only injected ones (a label selector): a gate's status counts the
selected pods the webhook did not inject (``status.pods.notInjected``) and
``rollout.restartOnChange`` restarts them, so the cache must see them too.

Why not Kopf's ``@kopf.index``: it keeps only what its function returns (it could be this slim
record too), but every pod event would go through Kopf's per-object machinery (a worker per
object, handler selection, body wrappers), and the index is a mapping of lists the rounds would
still scan per gate; not measured, for lack of time, so not a proven cost. This loop is the
gate cache's, already in use. Here a slim record is a pod-shaped dict with only what the
status rounds, the injection check and the restarts read, its equal parts shared with other
pods: ~0.9 KiB per pod instead of ~17 KiB decoded.

Memory and start: the cache starts with the first status refresh, so a standby replica (which
refreshes nothing) keeps no pods. While it is not current (before its first sync, while a
watch is down) a refresh LISTs as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from healthgate_operator import constants, kube
from healthgate_operator.builders import conditions, selectors
from healthgate_operator.builders.status import CANNOT_START
from healthgate_operator.gatecache import SYNC_WAIT_SECONDS, GateCache
from healthgate_operator.kubetypes import Json

logger = logging.getLogger(__name__)
ANNOTATION_PREFIX = constants.GROUP + "/"
LabelKey = tuple[str, str]


def _sidecar(container: Json) -> Json:
    """The injected container as the injection check reads it: name, ports, config mount."""
    return {
        "name": container.get("name"),
        "ports": [
            {"name": p.get("name"), "containerPort": p.get("containerPort")}
            for p in container.get("ports") or []
            if p.get("name") == constants.SIDECAR_NAME
        ],
        "volumeMounts": [
            {"name": m.get("name")}
            for m in container.get("volumeMounts") or []
            if m.get("name") == constants.CONFIG_VOLUME
        ],
    }


def _spec(spec: Json) -> Json:
    first: Json = next(iter(spec.get("initContainers") or []), {})
    volume = [v for v in spec.get("volumes") or [] if v.get("name") == constants.CONFIG_VOLUME]
    return {
        "initContainers": [_sidecar(first)] if first.get("name") == constants.SIDECAR_NAME else [],
        "containers": [
            {"name": c.get("name")}
            for c in spec.get("containers") or []
            if c.get("name") == constants.SIDECAR_NAME
        ],
        "volumes": [{"name": v["name"], "configMap": v.get("configMap")} for v in volume],
    }


def _status(status: Json) -> Json:
    ready = conditions.find(status.get("conditions"), "Ready")
    stuck = [
        {"state": {"waiting": (c.get("state") or {}).get("waiting")}}
        for c in (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
        if ((c.get("state") or {}).get("waiting") or {}).get("reason") in CANNOT_START
    ]
    return {
        "phase": status.get("phase"),
        "podIP": status.get("podIP"),
        "conditions": [{"type": "Ready", "status": ready.get("status")}] if ready else [],
        "containerStatuses": stuck,
    }


class Shared:
    """One copy of equal parts: the pods of a workload carry equal labels, annotations, owner
    and injected container, and most pods equal conditions. A Python dict costs ~200 bytes
    before its contents, so sharing them is what makes a slim pod ~0.9 KiB instead of ~5 KiB.
    Readers never change a cached pod. Bounded: past ``limit`` parts it starts over (new
    pods share less until then; nothing else changes)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._parts: dict[str, Any] = {}

    def __call__(self, part: Any) -> Any:
        key = repr(
            part
        )  # the API server writes a kind's fields in one order: equal parts repr equal
        found = self._parts.get(key)
        if found is None:
            if len(self._parts) >= self.limit:
                self._parts.clear()
            found = self._parts[key] = part
        return found


def slim(pod: Json, share: Shared | None = None) -> Json:
    """What the status rounds read of a pod, in the pod's own shape (so every reader works on
    a cached pod and on a listed one alike). Annotations: only ours (others can be large)."""
    share = share or Shared()
    meta = pod.get("metadata") or {}
    owners = [
        {"kind": o.get("kind"), "name": o.get("name"), "controller": True}
        for o in meta.get("ownerReferences") or []
        if o.get("controller")
    ]
    annotations = meta.get("annotations") or {}
    status = _status(pod.get("status") or {})
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": sys.intern(str(meta.get("namespace"))),
            "labels": share(meta.get("labels") or {}),
            "annotations": share(
                {k: v for k, v in annotations.items() if k.startswith(ANNOTATION_PREFIX)}
            ),
            "ownerReferences": share(owners),
            "deletionTimestamp": meta.get("deletionTimestamp"),
        },
        "spec": share(_spec(pod.get("spec") or {})),
        "status": {
            **status,
            "conditions": share(status["conditions"]),
            "containerStatuses": share(status["containerStatuses"]),
        },
    }


class PodCache(GateCache):
    """Slim pods by namespace and name, with an index by label for selecting a gate's pods."""

    prefix = "/api/v1"
    plural = "pods"

    def __init__(self, kube: kube.Kube, namespaces: tuple[str, ...] = ()) -> None:
        super().__init__(kube, namespaces)
        self._by_label: dict[str, dict[LabelKey, dict[str, Json]]] = {}
        self._share = Shared()

    def keep(self, obj: Json) -> Json:
        return slim(obj, self._share)

    async def select(self, namespace: str, selector: Mapping[str, Any]) -> list[Json]:
        """The namespace's pods the selector matches; a LIST while the cache is not current.

        An empty selector selects nothing (as in the webhook), never the whole namespace."""
        query = selectors.to_query(selector)
        if not query:
            return []
        if self._task is None:
            self.start()  # with the first refresh: a standby replica keeps no pods
        if not self.synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.synced.wait(), SYNC_WAIT_SECONDS)
        if not self.current():
            return await self.kube.list_pods(namespace, query)
        return [p for p in self._candidates(namespace, selector) if _matches(selector, p)]

    def current(self) -> bool:
        """Synced, and every watch is up. After a watch fails (an API outage) the cache is stale
        until its LIST succeeds again: a refresh must not call a status current from it, or
        the refresh watchdog (``/healthz``) would never see the outage."""
        return self.synced.is_set() and len(self._synced_paths) == len(self._paths())

    def _candidates(self, namespace: str, selector: Mapping[str, Any]) -> Iterable[Json]:
        """The pods carrying the selector's rarest matchLabels pair (all without one)."""
        index = self._by_label.get(namespace, {})
        pairs: list[LabelKey] = list((selector.get("matchLabels") or {}).items())
        if not pairs:
            return list(self._gates.get(namespace, {}).values())
        rarest = min(pairs, key=lambda pair: len(index.get(pair, {})))
        return list(index.get(rarest, {}).values())

    async def _list(self, path: str) -> tuple[list[Json], str]:
        """Pages of ``kube.POD_PAGE``, each kept slim before the next is decoded."""
        items: list[Json] = []
        token, version = "", ""
        while True:
            page = [("limit", str(kube.POD_PAGE))] + ([("continue", token)] if token else [])
            body = await self.kube.request("GET", path, query=page)
            items += [self.keep(item) for item in body.get("items", [])]
            meta = body.get("metadata") or {}
            version, token = str(meta.get("resourceVersion", "")), str(meta.get("continue") or "")
            if not token:
                return items, version

    async def _watch(self, path: str, version: str) -> str:
        """The gate cache's watch, except that a refused one (403: an RBAC without ``watch``
        on pods, from before the cache) ends the cache for good instead of a LIST of every
        pod per retry: the rounds LIST per gate, as they did then."""
        try:
            return await super()._watch(path, version)
        except kube.KubeError as exc:
            if exc.status != 403:
                raise
            logger.error("Pod cache off, status rounds LIST pods instead (RBAC: %s)", exc)
            self._synced_paths.discard(path)
            await asyncio.Event().wait()  # until stopped
            raise

    def _replace(self, namespace: str, objects: dict[str, Json]) -> None:
        super()._replace(namespace, objects)
        index: dict[LabelKey, dict[str, Json]] = {}
        for name, pod in objects.items():
            for pair in pod["metadata"]["labels"].items():
                index.setdefault(pair, {})[name] = pod
        self._by_label[namespace] = index

    def _put(self, namespace: str, name: str, kept: Json | None) -> None:
        """One watch event (None: deleted). In place, not copy on write as for gates: pods
        are read on the operator's loop only, and copying a namespace of thousands of pods
        per event would cost more than the LIST it replaces."""
        pods = self._gates.setdefault(namespace, {})
        index = self._by_label.setdefault(namespace, {})
        old = pods.pop(name, None)
        for pair in old["metadata"]["labels"].items() if old else ():
            bucket = index.get(pair, {})
            bucket.pop(name, None)
            if not bucket:
                index.pop(pair, None)
        if kept is not None:
            pods[name] = kept
            for pair in kept["metadata"]["labels"].items():
                index.setdefault(pair, {})[name] = kept


def _matches(selector: Mapping[str, Any], pod: Json) -> bool:
    return selectors.matches(selector, pod["metadata"].get("labels") or {})

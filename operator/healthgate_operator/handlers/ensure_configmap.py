"""Write a gate's ConfigMap only if it is ours, and put it back when it was changed by hand.

Ours means: it has an owner reference to this gate's uid (every ConfigMap we create has one).
A ConfigMap of that name that someone else made is never written: we would overwrite their data
and our owner reference would make the garbage collector delete it with the gate. The conflict
is reported instead, as ``Reconciled=False`` (reason ``ConfigMapConflict``) and a Warning Event.

Drift (a ConfigMap deleted or edited by hand) is noticed by the status loop from the watch-fed
:class:`~healthgate_operator.gatecache.ConfigMapCache` and repaired within one status interval.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf

from healthgate_operator.builders import conditions, config, manifests
from healthgate_operator.handlers import guard_outage
from healthgate_operator.kube import Kube, KubeError
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime

Logger = logging.Logger | logging.LoggerAdapter[Any]


class Conflict(Exception):
    """The ConfigMap exists and was not created by this gate."""


def owned_by(configmap: Json, uid: str) -> bool:
    refs = configmap.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def drifted(current: Json | None, manifest: Json) -> bool:
    """Missing, or its data, our labels or our owner reference differ from what we render."""
    if current is None:
        return True
    want = manifest["metadata"]
    labels = current.get("metadata", {}).get("labels") or {}
    return (
        (current.get("data") or {}) != manifest["data"]
        or any(labels.get(key) != value for key, value in want["labels"].items())
        or not owned_by(current, want["ownerReferences"][0]["uid"])
    )


async def write(kube: Kube, manifest: Json) -> bool:
    """Create the ConfigMap, or update it when it is ours and differs; :class:`Conflict` when it
    is someone else's. True when something was written."""
    meta = manifest["metadata"]
    try:
        current = await kube.get("v1", "configmaps", meta["namespace"], meta["name"])
    except KubeError as exc:
        if exc.status != 404:
            raise
        await kube.create_configmap(manifest)  # 409 when someone raced us: retried, then Conflict
        return True
    if not owned_by(current, meta["ownerReferences"][0]["uid"]):
        raise Conflict(
            f"ConfigMap {meta['name']} exists and was not created by this HealthGate; "
            "it is left alone: delete or rename it, or rename the gate"
        )
    if not drifted(current, manifest):
        return False
    await kube.apply_configmap(manifest)
    return True


def conflict_condition(error: Conflict, generation: int | None) -> Json:
    return conditions.condition("Reconciled", "False", "ConfigMapConflict", str(error), generation)


def warn(body: Json, reason: str, message: str) -> None:
    kopf.event(kopf.Body(cast(kopf.RawBody, body)), type="Warning", reason=reason, message=message)


async def restore(runtime: Runtime, body: Json, logger: Logger) -> list[Json]:
    """Repair a deleted or edited ConfigMap; the Reconciled condition to write, if any.

    Only for the generation the reconcile handler has handled (a newer spec is its job) and not
    for an invalid spec (nothing to render).
    """
    meta, spec = body["metadata"], body.get("spec") or {}
    generation = meta.get("generation")
    found = conditions.find((body.get("status") or {}).get("conditions"), "Reconciled") or {}
    handled = found.get("observedGeneration") == generation and found.get("reason") != "InvalidSpec"
    if not handled or not runtime.configmaps.synced.is_set():
        return []
    try:
        rendered = config.render_config(spec, directives=guard_outage.settings(runtime, body))
        manifest = manifests.build_configmap(body, rendered)
    except config.InvalidSpec:
        return []
    if not drifted(
        runtime.configmaps.get(meta["namespace"], manifest["metadata"]["name"]), manifest
    ):
        return []
    try:
        if not await write(runtime.kube, manifest):
            return []  # the cache was behind (e.g. just created), nothing had changed
    except Conflict as exc:
        if found.get("reason") != "ConfigMapConflict":
            warn(body, "ConfigMapConflict", str(exc))
        return [conflict_condition(exc, generation)]
    name = manifest["metadata"]["name"]
    logger.info("ConfigMap %s written again.", name)
    warn(body, "ConfigMapRestored", f"ConfigMap {name} was missing or changed; written again")
    message = f"ConfigMap {name} written again"
    return [conditions.condition("Reconciled", "True", "ConfigMapApplied", message, generation)]

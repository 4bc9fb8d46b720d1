"""``spec.rollout.restartOnChange``: restart the workloads of pods with an outdated injection.

Does what ``kubectl rollout restart`` does (a ``restartedAt`` pod template annotation) and also
records the injection hash it restarted for, so each workload is restarted once per change: if the
new pods still come up without the sidecar (webhook down, opted out later), nothing loops.
Only Deployments (through their ReplicaSet) and StatefulSets are restarted; other owners are
left alone: a DaemonSet or a Job restart is a decision for a human.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf

from healthgate_operator import constants
from healthgate_operator.builders import conditions, manifests
from healthgate_operator.kube import Kube, KubeError
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime

Logger = logging.Logger | logging.LoggerAdapter[Any]
Workload = tuple[str, str, str]  # (apiVersion, plural, name)


def controller_of(obj: Json) -> Json | None:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


async def workload_of(kube: Kube, namespace: str, pod: Json) -> Workload | None:
    """The Deployment or StatefulSet that owns a pod, if any."""
    owner = controller_of(pod)
    if owner is None:
        return None
    if owner["kind"] == "StatefulSet":
        return ("apps/v1", "statefulsets", owner["name"])
    if owner["kind"] != "ReplicaSet":
        return None
    replicaset = await kube.get("apps/v1", "replicasets", namespace, owner["name"])
    parent = controller_of(replicaset)
    if parent is None or parent["kind"] != "Deployment":
        return None
    return ("apps/v1", "deployments", parent["name"])


async def restart(
    runtime: Runtime, gate: Json, pods: list[Json], injection_hash: str, logger: Logger
) -> list[Workload]:
    """Restart each distinct workload once for ``injection_hash``; return those restarted."""
    namespace = gate["metadata"]["namespace"]
    restarted: list[Workload] = []
    try:
        workloads = {w for p in pods if (w := await workload_of(runtime.kube, namespace, p))}
        for api_version, plural, name in sorted(workloads):
            workload = await runtime.kube.get(api_version, plural, namespace, name)
            template = workload.get("spec", {}).get("template", {}).get("metadata", {})
            if (template.get("annotations") or {}).get(
                constants.ANNOTATION_RESTARTED_FOR
            ) == injection_hash:
                continue
            patch = manifests.build_restart_patch(injection_hash, conditions.now_rfc3339())
            await runtime.kube.merge_patch(api_version, plural, namespace, name, patch)
            restarted.append((api_version, plural, name))
            message = f"restarted {plural}/{name}: its pods lack the current sidecar injection"
            kopf.event(
                kopf.Body(cast(kopf.RawBody, gate)),
                type="Normal",
                reason="RolloutRestarted",
                message=message,
            )
    except KubeError as exc:
        if exc.status == 403:
            refused(runtime, gate, injection_hash, exc, logger)
        else:
            logger.warning("Rollout restart incomplete (next refresh retries): %s", exc)
    return restarted


def refused(
    runtime: Runtime, gate: Json, injection_hash: str, exc: KubeError, logger: Logger
) -> None:
    """No workload RBAC (the installer did not enable it): say so once per injection, in an
    Event on the gate, instead of a warning every refresh. Nothing else changes; the pods pick
    up the new injection at their next restart."""
    key = (str(gate["metadata"].get("uid")), injection_hash)
    if key in runtime.restart_refusals:
        return
    runtime.restart_refusals.add(key)
    message = (
        f"rollout.restartOnChange: the operator may not restart workloads ({exc}). The installer "
        "enables it (chart value rbac.restartWorkloads=true, kustomize component "
        "restart-workloads); until then restart them yourself (kubectl rollout restart)."
    )
    logger.warning("%s", message)
    kopf.event(
        kopf.Body(cast(kopf.RawBody, gate)),
        type="Warning",
        reason="RestartForbidden",
        message=message,
    )

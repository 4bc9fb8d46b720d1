"""Reconcile a HealthGate into its ConfigMap and the Reconciled condition.

Runs on create, on spec change and on operator start (resume). An invalid spec is reported as
``Reconciled=False`` and raised as ``kopf.PermanentError`` (no retries: only a new spec helps);
API failures raise ``kopf.TemporaryError`` and Kopf retries with backoff.
"""

from __future__ import annotations

from typing import Any

import kopf

from healthgate_operator import constants
from healthgate_operator.builders import conditions, config, injection, manifests
from healthgate_operator.handlers import ensure_configmap, guard_outage
from healthgate_operator.kube import KubeError
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime

RETRY_DELAY = 5.0


def status_patch(updates: Json, reconciled: Json) -> Any:
    """A Kopf patch function: set fields and merge the Reconciled condition on the fresh body."""

    def apply(body: Json) -> None:
        status = body.setdefault("status", {})
        status.update(updates)
        status["conditions"] = conditions.merge(
            status.get("conditions"), [reconciled], conditions.now_rfc3339()
        )

    return apply


def current_injection_hash(
    spec: Json, rendered: config.RenderedConfig, *, name: str, defaults: injection.SidecarDefaults
) -> str:
    container = injection.build_sidecar_container(spec, rendered, defaults)
    return injection.injection_hash(name, container)


def is_conflict_reported(body: Json) -> bool:
    found = conditions.find((body.get("status") or {}).get("conditions"), "Reconciled") or {}
    return found.get("reason") == "ConfigMapConflict"


async def reconcile(*, runtime: Runtime, body: Json, patch: kopf.Patch) -> None:
    meta, spec = body["metadata"], body.get("spec") or {}
    generation = meta.get("generation")
    try:
        rendered = config.render_config(spec)
    except config.InvalidSpec as exc:
        message = f"invalid spec: {exc}"
        condition = conditions.condition("Reconciled", "False", "InvalidSpec", message, generation)
        patch.fns.append(status_patch({"observedGeneration": generation}, condition))
        raise kopf.PermanentError(message) from exc
    try:
        # The ConfigMap also names the keys the sidecars trust (not the pod: no restart).
        signed = config.render_config(spec, directives=guard_outage.settings(runtime, body))
        await ensure_configmap.write(runtime.kube, manifests.build_configmap(body, signed))
    except ensure_configmap.Conflict as exc:
        if not is_conflict_reported(body):
            ensure_configmap.warn(body, "ConfigMapConflict", str(exc))
        patch.fns.append(status_patch({}, ensure_configmap.conflict_condition(exc, generation)))
        # Retried: the gate reconciles by itself once the user removes their ConfigMap.
        raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY * 6) from exc
    except KubeError as exc:
        if exc.temporary:
            raise kopf.TemporaryError(
                f"cannot write the ConfigMap: {exc}", delay=RETRY_DELAY
            ) from exc
        message = f"cannot write the ConfigMap: {exc}"
        condition = conditions.condition("Reconciled", "False", "ApplyFailed", message, generation)
        patch.fns.append(status_patch({}, condition))
        raise kopf.TemporaryError(message, delay=RETRY_DELAY * 6) from exc
    updates = {
        "observedGeneration": generation,
        "configMap": constants.configmap_name(meta["name"]),
        "injectionHash": current_injection_hash(
            spec, rendered, name=meta["name"], defaults=runtime.sidecar_defaults
        ),
    }
    message = f"config rendered into ConfigMap {updates['configMap']} ({rendered.hash})"
    condition = conditions.condition("Reconciled", "True", "ConfigMapApplied", message, generation)
    patch.fns.append(status_patch(updates, condition))

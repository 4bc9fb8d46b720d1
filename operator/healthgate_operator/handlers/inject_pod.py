"""Mutating admission of pod CREATE: find the gate that selects the pod and inject its sidecar.

Runs on the admission thread's loop (webhook.py), not the operator's: it reads the gate cache
without waiting, and sends the rare calls that need the API client to the operator's loop.

Never rejects a pod by accident: with ``failurePolicy: Ignore`` (the default) any error while
deciding becomes "allowed, unchanged" plus a warning, because a rejection from a *working*
webhook would bypass the failure policy the admin chose. With ``Fail`` the error is returned.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import kopf

from healthgate_operator import constants
from healthgate_operator.builders import admission
from healthgate_operator.gatecache import slim
from healthgate_operator.kube import KubeError
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime


def replace_body(new: Json) -> Any:
    """A Kopf patch function turning the reviewed pod into ``new`` (Kopf diffs it to JSON ops)."""

    def apply(body: Json) -> None:
        body.clear()
        body.update(new)

    return apply


def decide(runtime: Runtime, body: Json, namespace: str, gates: list[Json]) -> admission.Decision:
    return admission.decide(
        body,
        namespace,
        gates,
        defaults=runtime.sidecar_defaults,
        allowed_images=runtime.config.sidecar.allowed,
        skip_namespaces=runtime.config.scope.skip_namespaces,
    )


async def inject(
    *,
    runtime: Runtime,
    body: Json,
    namespace: str,
    patch: kopf.Patch,
    warnings: list[str],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    try:
        gates = runtime.gates.cached(namespace)
        if gates is None:  # before the cache's first sync
            gates = await runtime.on_loop(runtime.gates.snapshot(namespace))
    except KubeError as exc:
        runtime.metrics.admissions.labels(outcome="error").inc()
        if runtime.config.webhook.failure_policy == "Fail":
            raise kopf.AdmissionError(f"healthgate: cannot read HealthGates: {exc}") from exc
        logger.warning("Pod admitted without injection: cannot list HealthGates: %s", exc)
        warnings.append("healthgate: HealthGates unavailable; pod admitted without the sidecar")
        return
    decision = decide(runtime, body, namespace, gates)
    if decision.reason == "not-reconciled" and decision.gate:
        # The cache may lag the Reconciled condition by a watch event: ask once before refusing.
        with contextlib.suppress(KubeError):
            fresh = await runtime.on_loop(
                runtime.kube.get(constants.API_VERSION, constants.PLURAL, namespace, decision.gate)
            )
            gates = [slim(fresh) if g["metadata"]["name"] == decision.gate else g for g in gates]
            decision = decide(runtime, body, namespace, gates)
    runtime.metrics.admissions.labels(outcome=decision.reason).inc()
    warnings.extend(decision.warnings)
    if decision.pod is not None:
        patch.fns.append(replace_body(decision.pod))
        logger.debug("Injecting the sidecar of HealthGate %s.", decision.gate)

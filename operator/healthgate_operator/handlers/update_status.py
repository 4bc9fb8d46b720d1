"""The status timer: read the selected pods' sidecars and write the gate's status.

A failure here (API unavailable, pods unreachable) becomes part of the status, never an
exception that would make Kopf retry in a tight loop or hide the last known state.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import MutableMapping
from typing import Any, cast

import kopf

from healthgate_operator import constants
from healthgate_operator.builders import admission, conditions, injection, manifests, selectors
from healthgate_operator.builders import status as status_builder
from healthgate_operator.handlers import restart_workloads
from healthgate_operator.kube import KubeError
from healthgate_operator.runtime import Runtime

Json = dict[str, Any]
LAST_SEEN = "healthgate.dependencies"
PHASED = "healthgate.phased"
Logger = logging.Logger | logging.LoggerAdapter[Any]


def live_pods(pods: list[Json]) -> list[Json]:
    """Pods that count: not terminating, not finished."""
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]


def is_ready(pod: Json) -> bool:
    found = conditions.find(pod.get("status", {}).get("conditions"), "Ready")
    return found is not None and found.get("status") == "True"


def injected_by(pod: Json, gate: str) -> bool:
    annotations = pod["metadata"].get("annotations") or {}
    return injection.has_sidecar(pod) and annotations.get(constants.ANNOTATION_GATE) == gate


async def reports(runtime: Runtime, gate: str, port: int, pods: list[Json]) -> list[Any]:
    """One PodReport per pod; only pods injected by this gate and with an IP are asked.

    Each pod is asked on the port it was injected with; ``port`` (today's) only when a pod
    does not say, so changing ``--sidecar-port`` or the gate's port never blinds the status.
    """
    asked = [p for p in pods if injected_by(p, gate) and p.get("status", {}).get("podIP")]
    targets = [(p["status"]["podIP"], injection.pod_sidecar_port(p) or port) for p in asked]
    answers = await runtime.prober.many(targets)
    health = {p["metadata"]["name"]: a for p, a in zip(asked, answers, strict=True)}
    return [
        status_builder.PodReport(
            name=p["metadata"]["name"],
            injected=injected_by(p, gate),
            ready=is_ready(p),
            health=health.get(p["metadata"]["name"]),
        )
        for p in pods
    ]


def status_patch(fields: Json, updates: list[Json]) -> Any:
    def apply(body: Json) -> None:
        status = body.setdefault("status", {})
        status.update(fields)
        status["conditions"] = conditions.merge(
            status.get("conditions"), updates, conditions.now_rfc3339()
        )

    return apply


def unavailable(patch: kopf.Patch, generation: int | None, error: Exception) -> None:
    message = f"cannot list the selected pods: {error}"
    ready = conditions.condition("Ready", "Unknown", "StatusUnavailable", message, generation)
    patch.fns.append(status_patch({"status": "Unknown"}, [ready]))


def phase_offset(uid: str, interval: float) -> float:
    """A stable offset in [0, interval) per gate.

    Gates applied together would otherwise refresh together forever (Kopf times each run from
    the end of the previous one): bursts of pod LISTs and status PATCHes, and as many API
    connections. A one-time delay derived from the uid spreads them over the interval.
    """
    return (zlib.crc32(uid.encode()) % 1000) / 1000 * interval


async def refresh(
    *,
    runtime: Runtime,
    body: Json,
    patch: kopf.Patch,
    logger: Logger,
    memory: MutableMapping[str, Any],
    gates: list[Json],
) -> None:
    if PHASED not in memory:
        memory[PHASED] = True
        uid = str(body["metadata"].get("uid", ""))
        await asyncio.sleep(phase_offset(uid, runtime.config.status_interval))
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    query = selectors.to_query(spec.get("selector") or {})
    try:
        pods = live_pods(await runtime.kube.list_pods(namespace, query)) if query else []
    except KubeError as exc:
        logger.warning("Status not refreshed: %s", exc)
        unavailable(patch, generation, exc)
        return
    names = [str(d.get("name")) for d in spec.get("dependencies") or []]
    port = injection.sidecar_port(spec, runtime.config.sidecar_port)
    with runtime.metrics.refresh_seconds.time():  # asking every sidecar: the cycle's cost
        found = await reports(runtime, name, port, pods)
    # What this process last saw wins over the body: if a status write was lost (a conflict,
    # retried later), the body is behind and would make the same transition fire twice.
    previous = memory.get(LAST_SEEN) or (body.get("status") or {}).get("dependencies")
    summary = status_builder.summarize(names, found, previous)
    memory[LAST_SEEN] = summary.dependencies
    for event_type, reason, message in summary.events:
        kopf.event(
            kopf.Body(cast(kopf.RawBody, body)), type=event_type, reason=reason, message=message
        )
    runtime.metrics.gates.update(namespace, name, summary)
    labels = [p["metadata"].get("labels") or {} for p in pods]
    fields = {
        **status_builder.status_fields(summary),
        "conflicts": manifests.conflicts(name, labels, gates),
    }
    patch.fns.append(status_patch(fields, status_builder.health_conditions(summary, generation)))
    await maybe_restart(runtime, body, pods, gates, logger)


async def maybe_restart(
    runtime: Runtime, body: Json, pods: list[Json], gates: list[Json], logger: Logger
) -> None:
    """``rollout.restartOnChange``: restart workloads whose pods run an outdated injection."""
    if not ((body.get("spec") or {}).get("rollout") or {}).get("restartOnChange"):
        return
    current = (body.get("status") or {}).get("injectionHash")
    stale = outdated(body["metadata"]["name"], pods, gates, current)
    if current and stale:
        await restart_workloads.restart(runtime, body, stale, current, logger)


def outdated(name: str, pods: list[Json], gates: list[Json], current: str | None) -> list[Json]:
    """Pods this gate should inject but that lack the sidecar or run an older injection."""
    out = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if admission.skip_reason(pod, "", ()) == "opted-out":
            continue
        winners = admission.selecting_gates(gates, labels)
        if not winners or winners[0]["metadata"]["name"] != name:
            continue
        annotations = pod["metadata"].get("annotations") or {}
        if annotations.get(constants.ANNOTATION_INJECTION_HASH) != current:
            out.append(pod)
    return out

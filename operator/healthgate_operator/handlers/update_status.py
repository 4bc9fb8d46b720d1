"""The status refresh: read the selected pods' sidecars and write the gate's status, forever.

Each gate has a Kopf daemon (Kopf starts it, stops it on a standby replica) that registers the
gate in the shared status rounds (``rounds.py``), which refresh every gate once an interval.
The status is written here, not by Kopf: a Kopf timer hands its patch to Kopf, whose retries
end after 54 s and then end the timer for good, silently (issue 11). A failure (API
unavailable, pods unreachable) becomes part of the status or a log line, never the end of the
refreshes. A status that would not change is not written: at 1,000 gates every 10 s that was
100 API writes a second for nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

import kopf

from healthgate_operator import constants
from healthgate_operator.builders import (
    admission,
    conditions,
    injection,
    shared_outage,
)
from healthgate_operator.builders import status as status_builder
from healthgate_operator.handlers import ensure_configmap, guard_outage, restart_workloads
from healthgate_operator.kube import KubeError
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime
from healthgate_sidecar import wire

YIELD_EVERY = 200  # pods built between two turns of the event loop
LAST_SEEN = "healthgate.dependencies"
REPORTED = "healthgate.reported"
BLOCKED = "healthgate.blocked"
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


async def reports(runtime: Runtime, gate: str, port: int, pods: list[Json]) -> list[Any]:
    """One PodReport per pod; only pods injected by this gate and with an IP are asked.

    Each pod is asked on the port it was injected with; ``port`` (today's) only when a pod
    does not say, so changing ``--sidecar-port`` or the gate's port never blinds the status.
    """
    injected = [injection.injected_by(p, gate) for p in pods]  # once per pod: it is not cheap
    asked = [
        p for p, i in zip(pods, injected, strict=True) if i and p.get("status", {}).get("podIP")
    ]
    targets = [(p["status"]["podIP"], injection.pod_sidecar_port(p) or port) for p in asked]
    answers = await runtime.health_reader.many(targets)
    # Answers are shared between pods that sent the same bytes: read each one once.
    read: dict[int, wire.HealthBody | None] = {}
    for answer in answers:
        if id(answer) not in read:
            read[id(answer)] = wire.read_health(answer)
    health = {p["metadata"]["name"]: read[id(a)] for p, a in zip(asked, answers, strict=True)}
    out = []
    for k, (p, i) in enumerate(zip(pods, injected, strict=True)):
        if k and not k % YIELD_EVERY:
            await asyncio.sleep(0)  # a gate of thousands of pods must not hold the webhook's loop
        out.append(
            status_builder.PodReport(
                name=p["metadata"]["name"],
                injected=i,
                ready=is_ready(p),
                health=health.get(p["metadata"]["name"]),
                waiting=status_builder.cannot_start(p),
            )
        )
    return out


def merged_status(body: Json, fields: Json, updates: list[Json]) -> Json:
    """The status merge patch: ``fields`` and the conditions merged into the body's ones.

    The body's resourceVersion goes with it as a precondition: conditions are a list, replaced
    whole by a merge patch, so a write based on an older body must fail (409), not erase a
    condition the reconcile handler set meanwhile.
    """
    old = (body.get("status") or {}).get("conditions")
    merged = conditions.merge(old, updates, conditions.now_rfc3339())
    version = body["metadata"].get("resourceVersion")
    return {"metadata": {"resourceVersion": version}, "status": {**fields, "conditions": merged}}


def unchanged(body: Json, patch: Json) -> bool:
    """Whether the body already shows every field of the status patch."""
    current = body.get("status") or {}
    return all(current.get(key) == value for key, value in patch["status"].items())


async def write_status(runtime: Runtime, body: Json, fields: Json, updates: list[Json]) -> bool:
    """Write the status unless unchanged; on a conflict once more from a fresh read.

    False: the gate is gone.
    """
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid")
    for attempt in range(2):
        patch = merged_status(body, fields, updates)
        if unchanged(body, patch):
            runtime.metrics.status_writes.labels(outcome="unchanged").inc()
            runtime.watchdog.refreshed()
            return await still_there(runtime, body)
        try:
            await runtime.status_writes.turn()  # see pacing.py
            await runtime.kube.patch_gate_status(namespace, name, patch)
            runtime.metrics.status_writes.labels(outcome="written").inc()
        except KubeError as exc:
            if exc.status == 404:
                return False
            if exc.status != 409 or attempt:
                raise
            body = await runtime.kube.get(constants.API_VERSION, constants.PLURAL, namespace, name)
            if body["metadata"].get("uid") != uid:
                return False  # deleted and created again: that gate has its own loop
            continue
        runtime.watchdog.refreshed()
        break
    return True


async def still_there(runtime: Runtime, body: Json) -> bool:
    """Whether the gate exists, when no write answered 404 to tell (Kopf does not stop the
    daemon of a gate deleted without a finalizer). The gate cache says so without a call;
    only a gate missing from it is read, since the cache may not have seen a new gate yet."""
    meta = body["metadata"]
    cached = runtime.gates.get(meta["namespace"], meta["name"]) or {"metadata": {}}
    if not runtime.gates.synced.is_set() or cached["metadata"].get("uid") == meta.get("uid"):
        return True
    try:
        fresh = await runtime.kube.get(
            constants.API_VERSION, constants.PLURAL, meta["namespace"], meta["name"]
        )
    except KubeError as exc:
        if exc.status == 404:
            return False
        raise
    return bool(fresh["metadata"].get("uid") == meta.get("uid"))


def unavailable(generation: int | None, error: Exception) -> tuple[Json, list[Json]]:
    message = f"cannot list the selected pods: {error}"
    ready = conditions.condition("Ready", "Unknown", "StatusUnavailable", message, generation)
    return {"status": "Unknown"}, [ready]


async def run(
    *, runtime: Runtime, body: Mapping[str, Any], stopped: kopf.DaemonStopped, logger: Logger
) -> None:
    """One gate's part in the status rounds: from Kopf's daemon start until Kopf stops it or
    the gate is gone.

    Nothing escapes a refresh. An error (the API server gone for minutes, a bug on odd input)
    is logged and the next round tries again, so status resumes within one interval of the API
    server's return. ``body`` is Kopf's live view: each round reads the latest spec.
    """
    interval = runtime.config.status.interval
    memory: dict[str, Any] = {}

    async def once() -> bool:
        try:
            return await refresh(runtime=runtime, body=dict(body), logger=logger, memory=memory)
        except KubeError as exc:
            logger.warning("Status not written, next try in %.0fs: %s", interval, exc)
        except Exception:  # the gate must outlive any error; see the docstring
            logger.exception("Status refresh failed, next try in %.0fs", interval)
        return True

    runtime.watchdog.started()
    try:
        with runtime.rounds.registered(str(body["metadata"].get("uid", "")), once) as entry:
            await stopped_or_gone(stopped, entry.gone)
        if entry.gone.is_set():
            logger.info("The gate is gone; its status refresh ends.")
    finally:
        runtime.watchdog.stopped()


async def stopped_or_gone(stopped: kopf.DaemonStopped, gone: asyncio.Event) -> None:
    """Until Kopf stops the daemon or a round finds the gate gone.

    Two waiters for the daemon's whole life, not a wake-up per gate and interval: at 1,000
    gates, waking every daemon each interval (Kopf's promise and timer per wait) was ~4 % of
    the operator's CPU in a profile of the status rounds (``bench.operator_status_scale``).
    """
    waiters = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(gone.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def refresh(
    *, runtime: Runtime, body: Json, logger: Logger, memory: MutableMapping[str, Any]
) -> bool:
    """One round: list the pods, ask their sidecars, write the status. False: the gate is gone."""
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    repaired = await ensure_configmap.restore(runtime, body, logger)
    selector = spec.get("selector") or {}
    try:
        pods = live_pods(await runtime.pods.select(namespace, selector)) if selector else []
    except KubeError as exc:
        logger.warning("Status not refreshed: %s", exc)
        fields, updates = unavailable(generation, exc)
        return await write_status(runtime, body, fields, updates + repaired)
    names = [str(d.get("name")) for d in spec.get("dependencies") or []]
    port = injection.sidecar_port(spec, runtime.config.sidecar.port)
    with runtime.metrics.refresh_seconds.time():  # asking every sidecar: the cycle's cost
        found = await reports(runtime, name, port, pods)
    verdict, policy = await guard_outage.advance(
        runtime, body, found, pods, port=port, memory=memory
    )
    # What this loop last saw wins over the body: if a status write was lost, the body is
    # behind and would make the same transition fire twice.
    previous = memory.get(LAST_SEEN) or (body.get("status") or {}).get("dependencies")
    summary = status_builder.summarize(names, found, previous, memory.get(REPORTED))
    gates = runtime.gates.gates(namespace)
    fields = {
        **status_builder.status_fields(summary),
        "conflicts": runtime.selection.conflicts(
            namespace,
            runtime.gates.view(namespace),
            name,
            [p["metadata"].get("labels") or {} for p in pods],
        ),
        "sharedOutage": sorted(verdict.active),
    }
    updates = status_builder.health_conditions(summary, generation) + repaired
    updates.append(shared_outage.condition(verdict, policy, generation))
    if not await write_status(runtime, body, fields, updates):
        return False
    memory[LAST_SEEN], memory[REPORTED] = summary.dependencies, summary.reported
    events = list(summary.events) + shared_outage.events(verdict)
    if summary.blocked and summary.blocked != memory.get(BLOCKED):
        events.append(
            ("Warning", "PodsCannotStart", "pods cannot start: " + "; ".join(summary.blocked))
        )
    memory[BLOCKED] = summary.blocked
    for event_type, reason, message in events:
        kopf.event(
            kopf.Body(cast(kopf.RawBody, body)), type=event_type, reason=reason, message=message
        )
    runtime.metrics.gates.update(namespace, name, summary, guard_outage.gauge(spec, verdict))
    await maybe_restart(runtime, body, pods, gates, logger)
    return True


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

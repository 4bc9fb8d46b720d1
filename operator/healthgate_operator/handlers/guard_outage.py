"""The shared-outage guard inside a gate's status refresh: judge, then tell the sidecars.

Runs right after the refresh has read every pod's /health, so the verdict reaches the sidecars
in the same refresh that saw the failures (:mod:`..directives`). While a dependency is in a
shared outage, every refresh sends a fresh directive (each lives a few intervals); on leaving,
one empty directive returns the pods to their own judgement at once instead of at expiry.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from healthgate_operator import directives
from healthgate_operator.builders import injection
from healthgate_operator.builders import shared_outage as rule
from healthgate_operator.builders.status import PodReport
from healthgate_operator.kubetypes import Json
from healthgate_operator.runtime import Runtime

TRACKER = "healthgate.shared-outage"


def tracker(memory: MutableMapping[str, Any], body: Json) -> rule.Tracker:
    """This loop's hysteresis; after an operator restart, seeded from the written status so the
    shared state carries on without a second entry Event."""
    found = memory.get(TRACKER)
    if not isinstance(found, rule.Tracker):
        written = (body.get("status") or {}).get("sharedOutage") or []
        found = memory[TRACKER] = rule.Tracker(active={str(n) for n in written})
    return found


def settings(runtime: Runtime, body: Json) -> Json | None:
    """The ConfigMap's directive settings: the keys to trust, none for a FailClosed gate."""
    if not rule.Policy.from_spec(body.get("spec") or {}).fail_open:
        return None
    return runtime.signer.settings(str(body["metadata"]["uid"]))


def targets(gate: str, port: int, pods: list[Json]) -> list[tuple[str, int]]:
    """(pod IP, sidecar port) of every pod this gate injected, answering /health or not."""
    return [
        (p["status"]["podIP"], injection.pod_sidecar_port(p) or port)
        for p in pods
        if injection.injected_by(p, gate) and (p.get("status") or {}).get("podIP")
    ]


async def advance(
    runtime: Runtime,
    body: Json,
    found: list[PodReport],
    pods: list[Json],
    *,
    port: int,
    memory: MutableMapping[str, Any],
) -> tuple[rule.Verdict, rule.Policy]:
    """One refresh of the rule; pushes the signed verdict when there is one to tell."""
    meta, spec = body["metadata"], body.get("spec") or {}
    policy = rule.Policy.from_spec(spec)
    observed = rule.counts(rule.critical_names(spec), found)
    verdict = rule.step(policy, tracker(memory, body), observed)
    if verdict.active or verdict.exited:
        directive = directives.build(meta["uid"], verdict, runtime.config.status.interval)
        await directives.push(
            targets(meta["name"], port, pods),
            runtime.signer.sign(directive),
            seconds=runtime.config.status.health_timeout,
        )
    return verdict, policy


def gauge(spec: Json, verdict: rule.Verdict) -> dict[str, int]:
    """Per critical dependency: 1 while in a shared outage (failing open), else 0."""
    return {name: int(name in verdict.active) for name in rule.critical_names(spec)}

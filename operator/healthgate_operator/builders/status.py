"""Aggregate the selected pods' sidecar reports into a gate's status.

Input: one :class:`PodReport` per selected pod (the ``/health`` JSON of injected pods, or None
when unreachable). Output: counts, per-dependency tallies, the overall status, the Ready and
Degraded conditions, and the events of dependencies that turned unhealthy or recovered. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthgate_operator.builders import conditions

Json = dict[str, Any]
POD_STATUSES = ("healthy", "degraded", "unhealthy", "unknown")
# Rank of a pod's overall status; the gate takes the worst reported one.
_RANK = {"healthy": 0, "unknown": 1, "degraded": 2, "unhealthy": 3}
_GATE_STATUS = {s: s.capitalize() for s in _RANK}


@dataclass
class PodReport:
    name: str
    injected: bool
    ready: bool
    health: Json | None = None


@dataclass
class Summary:
    total: int
    injected: int
    ready: int
    status: str
    dependencies: list[Json]
    unhealthy: list[str]
    reporting: int
    events: list[tuple[str, str, str]] = field(default_factory=list)


def _component_status(health: Json | None, name: str) -> str:
    if not health:
        return "unknown"
    component = (health.get("components") or {}).get(name) or {}
    status = str(component.get("status", "unknown")).lower()
    return status if status in POD_STATUSES else "unknown"


def tally(names: list[str], pods: list[PodReport]) -> list[Json]:
    """Per dependency, how many injected pods report each status."""
    out = []
    for name in names:
        counts = dict.fromkeys(POD_STATUSES, 0)
        for pod in pods:
            if pod.injected:
                counts[_component_status(pod.health, name)] += 1
        out.append({"name": name, **counts})
    return out


def overall(pods: list[PodReport]) -> tuple[str, int]:
    """The worst status among injected pods that answered, and how many answered."""
    statuses = [
        str(p.health.get("status", "unknown")).lower()
        for p in pods
        if p.injected and p.health is not None
    ]
    if not statuses:
        return "Unknown", 0
    worst = max(statuses, key=lambda s: _RANK.get(s, _RANK["unknown"]))
    return _GATE_STATUS.get(worst, "Unknown"), len(statuses)


def summarize(names: list[str], pods: list[PodReport], previous: list[Json] | None) -> Summary:
    deps = tally(names, pods)
    status, reporting = overall(pods)
    summary = Summary(
        total=len(pods),
        injected=sum(p.injected for p in pods),
        ready=sum(p.ready for p in pods),
        status=status,
        dependencies=deps,
        unhealthy=[d["name"] for d in deps if d["unhealthy"] > 0],
        reporting=reporting,
    )
    summary.events = transitions(previous, deps)
    return summary


def transitions(previous: list[Json] | None, current: list[Json]) -> list[tuple[str, str, str]]:
    """(type, reason, message) events for dependencies that became unhealthy or recovered."""
    before = {d.get("name"): d for d in previous or []}
    events = []
    for dep in current:
        old = before.get(dep["name"]) or {}
        was_unhealthy = int(old.get("unhealthy") or 0) > 0
        answered = dep["healthy"] + dep["degraded"] + dep["unhealthy"]
        if dep["unhealthy"] > 0 and not was_unhealthy:
            message = (
                f"dependency {dep['name']} is unhealthy in {dep['unhealthy']} of {answered} "
                "reporting pods"
            )
            events.append(("Warning", "DependencyUnhealthy", message))
        elif was_unhealthy and dep["unhealthy"] == 0 and answered > 0:
            message = f"dependency {dep['name']} recovered in all {answered} reporting pods"
            events.append(("Normal", "DependencyRecovered", message))
    return events


def health_conditions(summary: Summary, generation: int | None) -> list[Json]:
    """The Ready and Degraded conditions for a summary."""
    unhealthy = ", ".join(summary.unhealthy)
    counts = f"{summary.reporting} of {summary.injected} injected pods reporting"
    ready: tuple[str, str, str]
    if summary.status == "Unknown":
        ready = ("Unknown", "NoReports", f"no injected pod answered /health yet ({counts})")
    elif summary.status == "Unhealthy":
        ready = ("False", "DependencyUnhealthy", f"unhealthy: {unhealthy} ({counts})")
    else:
        ready = ("True", "DependenciesHealthy", f"critical dependencies healthy ({counts})")
    degraded = summary.status == "Degraded"
    degraded_message = (
        f"degraded or non-critical unhealthy: {unhealthy or 'slow checks'}"
        if degraded
        else "no degraded dependencies"
    )
    return [
        conditions.condition("Ready", *ready, generation),
        conditions.condition(
            "Degraded",
            "True" if degraded else "False",
            "DependencyDegraded" if degraded else "NotDegraded",
            degraded_message,
            generation,
        ),
    ]


def status_fields(summary: Summary) -> Json:
    """The scalar and list fields of ``.status`` (conditions are merged separately)."""
    return {
        "status": summary.status,
        "ready": f"{summary.ready}/{summary.total}",
        "unhealthy": ",".join(summary.unhealthy),
        "pods": {"total": summary.total, "injected": summary.injected, "ready": summary.ready},
        "dependencies": summary.dependencies,
    }

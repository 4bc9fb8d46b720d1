"""Aggregate the selected pods' sidecar reports into a gate's status.

Input: one :class:`PodReport` per selected pod (the ``/health`` JSON of injected pods, or None
when unreachable). Output: counts, per-dependency tallies, the overall status, the Ready and
Degraded conditions, and the events of dependencies that turned unhealthy or recovered. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthgate_operator.builders import conditions
from healthgate_operator.kubetypes import Json
from healthgate_sidecar import wire

# The order of the per-dependency tallies in .status.dependencies and of the metric series.
POD_STATUSES: tuple[str, ...] = ("healthy", "degraded", "unhealthy", "unknown")
# Rank of a pod's overall status; the gate takes the worst reported one: the sidecar's ranking.
RANK = wire.SEVERITY
_GATE_STATUS = {s: s.capitalize() for s in RANK}
# Container waiting reasons that mean "this pod cannot start until someone fixes something".
CANNOT_START = frozenset(
    {
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "ErrImagePull",
        "ImagePullBackOff",
    }
)


@dataclass
class PodReport:
    name: str
    injected: bool
    ready: bool
    health: wire.HealthBody | None = None
    """The pod's /health (read leniently: :func:`wire.read_health`), None when unreachable."""
    waiting: str | None = None
    """Why a container of the pod cannot start, as the kubelet reports it, if it cannot."""


def cannot_start(pod: Json) -> str | None:
    """The kubelet's reason a container of ``pod`` cannot start, e.g. a missing Secret."""
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    ):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CANNOT_START:
            message = str(waiting.get("message") or waiting["reason"])[:300]
            return f"{message} ({waiting['reason']})"
    return None


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
    reported: set[str] = field(default_factory=set)
    """Dependencies whose DependencyUnhealthy event is out (and not yet followed by recovery)."""
    blocked: list[str] = field(default_factory=list)
    """Distinct reasons why selected pods cannot start."""


def _component_status(health: wire.HealthBody | None, name: str) -> wire.Status:
    component = health["components"].get(name) if health else None
    return component["status"] if component else "unknown"


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
    statuses = [p.health["status"] for p in pods if p.injected and p.health is not None]
    if not statuses:
        return "Unknown", 0
    return _GATE_STATUS[wire.worst(statuses)], len(statuses)


def summarize(
    names: list[str],
    pods: list[PodReport],
    previous: list[Json] | None,
    reported: set[str] | None = None,
) -> Summary:
    """``previous``: the tallies of the last refresh; ``reported``: see :func:`transitions`
    (None: taken from ``previous``, as after a restart, so no event is sent twice)."""
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
        blocked=sorted({p.waiting for p in pods if p.waiting}),
    )
    if reported is None:
        reported = {str(d.get("name")) for d in previous or [] if int(d.get("unhealthy") or 0)}
    summary.events, summary.reported = transitions(previous, deps, reported)
    return summary


def transitions(
    previous: list[Json] | None, current: list[Json], reported: set[str]
) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(type, reason, message) events for dependencies that became unhealthy or recovered,
    and the dependencies reported unhealthy afterwards.

    DependencyUnhealthy waits until the counts settle (equal in two refreshes in a row): sent at
    the first failing pod, "unhealthy in 1 of 3" would stay the only word while all 3 fail.
    """
    before = {d.get("name"): d for d in previous or []}
    events, now = [], set(reported)
    for dep in current:
        name = dep["name"]
        answered = dep["healthy"] + dep["degraded"] + dep["unhealthy"]
        old = before.get(name) or {}
        settled = all(int(old.get(k) or 0) == dep[k] for k in POD_STATUSES)
        if dep["unhealthy"] > 0 and name not in reported and settled:
            message = (
                f"dependency {name} is unhealthy in {dep['unhealthy']} of {answered} reporting pods"
            )
            events.append(("Warning", "DependencyUnhealthy", message))
            now.add(name)
        elif name in reported and dep["unhealthy"] == 0 and answered > 0:
            message = f"dependency {name} recovered in all {answered} reporting pods"
            events.append(("Normal", "DependencyRecovered", message))
            now.discard(name)
    return events, now


def health_conditions(summary: Summary, generation: int | None) -> list[Json]:
    """The Ready and Degraded conditions for a summary."""
    unhealthy = ", ".join(summary.unhealthy)
    counts = f"{summary.reporting} of {summary.injected} injected pods reporting"
    ready: tuple[str, str, str]
    if summary.status == "Unknown" and summary.blocked:
        ready = ("Unknown", "PodsCannotStart", f"pods cannot start: {'; '.join(summary.blocked)}")
    elif summary.status == "Unknown":
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
        "pods": {
            "total": summary.total,
            "injected": summary.injected,
            "ready": summary.ready,
            "notInjected": summary.total - summary.injected,
        },
        "dependencies": summary.dependencies,
    }

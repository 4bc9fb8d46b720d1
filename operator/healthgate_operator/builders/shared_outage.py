"""The shared-outage rule: when a critical dependency fails in most pods, fail open, and say so.

Readiness exists to route around a bad pod. When every pod of an app has the same problem (the
Redis they share is down), taking them all out of their Service turns a partial outage into a
total one. A dependency is in a *shared outage* when it fails in at least ``thresholdPercent``
of the gate's reporting pods and in at least ``minPods`` of them; under ``policy: FailOpen``
the operator then tells the sidecars to ignore it for readiness (:mod:`..directives`). A failure
in fewer pods drains only those pods. See docs/design.md ("Shared outages") for the defaults.

Hysteresis, counted in status refreshes: the rule must hold ``entryRefreshes`` times in a row
to enter the shared state, and fail ``exitRefreshes`` times in a row to leave it, so a flapping
dependency does not toggle it (nor send an Event pair) every refresh. Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthgate_operator.builders import conditions
from healthgate_operator.builders.status import PodReport
from healthgate_operator.kubetypes import Json
from healthgate_sidecar import wire

CONDITION = "SharedOutage"


@dataclass(frozen=True)
class Policy:
    """``spec.sharedOutage`` with its defaults (the CRD documents and validates each field)."""

    fail_open: bool = True
    """FailOpen (default): a shared outage keeps pods Ready; FailClosed: drain every pod."""
    threshold_percent: int = 75
    """Share of reporting pods that must fail; 75 needs 3 of 3 or 3 of 4, so a rollout whose
    new pods fail (a surge of up to half the pods) still stalls."""
    min_pods: int = 2
    """Failing pods needed at least; one pod cannot tell its own problem from a shared one."""
    entry_refreshes: int = 2
    """Refreshes in a row the rule must hold before the shared state begins."""
    exit_refreshes: int = 3
    """Refreshes in a row the rule must not hold before the shared state ends."""

    @classmethod
    def from_spec(cls, spec: Json) -> Policy:
        block: Json = spec.get("sharedOutage") or {}
        base = cls()
        return cls(
            fail_open=block.get("policy", "FailOpen") == "FailOpen",
            threshold_percent=int(block.get("thresholdPercent", base.threshold_percent)),
            min_pods=int(block.get("minPods", base.min_pods)),
            entry_refreshes=int(block.get("entryRefreshes", base.entry_refreshes)),
            exit_refreshes=int(block.get("exitRefreshes", base.exit_refreshes)),
        )

    def holds(self, failing: int, reporting: int) -> bool:
        """The rule for one dependency in one refresh."""
        return (
            reporting > 0
            and failing >= self.min_pods
            and failing * 100 >= self.threshold_percent * reporting
        )


@dataclass
class Tracker:
    """One gate's memory between refreshes (kept by its status loop)."""

    active: set[str] = field(default_factory=set)
    streak: dict[str, int] = field(default_factory=dict)
    """Per dependency: refreshes in a row whose rule disagrees with its current state."""


@dataclass
class Verdict:
    """The outcome of one refresh: the dependencies failing open and what changed."""

    active: dict[str, tuple[int, int]]
    """Dependency -> (failing pods, reporting pods), for each one in a shared outage."""
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)


def critical_names(spec: Json) -> list[str]:
    return [str(d.get("name")) for d in spec.get("dependencies") or [] if d.get("critical", True)]


def failing(health: wire.HealthBody, name: str) -> bool:
    """Whether a pod's /health shows the dependency failing.

    Unhealthy, or (where details are shown) a first failed check: acting on the first failures,
    before the sidecars cross their ``failureThreshold``, lets the shared state begin before
    any pod leaves its Service.
    """
    component = health["components"].get(name)
    if component is None:
        return False
    if component["status"] == "unhealthy":
        return True
    failures = component.get("consecutiveFailures")
    return isinstance(failures, int) and failures > 0


def counts(names: list[str], pods: list[PodReport]) -> dict[str, tuple[int, int]]:
    """Per dependency: (failing pods, reporting pods) among injected pods that answered."""
    answered = [p.health for p in pods if p.injected and p.health is not None]
    return {name: (sum(failing(h, name) for h in answered), len(answered)) for name in names}


def step(policy: Policy, tracker: Tracker, observed: dict[str, tuple[int, int]]) -> Verdict:
    """Advance the hysteresis by one refresh (``tracker`` in place) and return the verdict."""
    verdict = Verdict(active={})
    for name in list(tracker.active):
        # Removed from the spec, or the policy became FailClosed: at once, no hysteresis.
        if name not in observed or not policy.fail_open:
            tracker.active.discard(name)
            verdict.exited.append(name)
    for name, (bad, reporting) in observed.items():
        holds = policy.fail_open and policy.holds(bad, reporting)
        was = name in tracker.active
        tracker.streak[name] = tracker.streak.get(name, 0) + 1 if holds != was else 0
        needed = policy.exit_refreshes if was else policy.entry_refreshes
        if tracker.streak[name] >= needed:
            tracker.streak[name] = 0
            (tracker.active.discard if was else tracker.active.add)(name)
            (verdict.exited if was else verdict.entered).append(name)
        if name in tracker.active:
            verdict.active[name] = (bad, reporting)
    for name in set(tracker.streak) - set(observed):
        del tracker.streak[name]
    return verdict


def describe(name: str, bad: int, reporting: int) -> str:
    return f"{name} (unhealthy in {bad}/{reporting} pods)"


def condition(verdict: Verdict, policy: Policy, generation: int | None) -> Json:
    """The SharedOutage condition: True naming the dependencies failing open."""
    if verdict.active:
        names = ", ".join(describe(n, *c) for n, c in sorted(verdict.active.items()))
        message = f"failing open for {names}: pods stay Ready as far as these are concerned"
        return conditions.condition(CONDITION, "True", "FailingOpen", message, generation)
    reason, message = (
        ("NoSharedOutage", "no critical dependency fails in most pods")
        if policy.fail_open
        else ("FailClosed", "policy FailClosed: a shared outage drains every pod")
    )
    return conditions.condition(CONDITION, "False", reason, message, generation)


def events(verdict: Verdict) -> list[tuple[str, str, str]]:
    """One Event on entering and one on leaving the shared state, per dependency."""
    out = []
    for name in verdict.entered:
        bad, reporting = verdict.active.get(name, (0, 0))
        out.append(
            (
                "Warning",
                "SharedOutageStarted",
                f"dependency {name} is unhealthy in {bad}/{reporting} pods: shared outage, "
                "failing open (pods stay Ready as far as it is concerned)",
            )
        )
    for name in verdict.exited:
        out.append(
            (
                "Normal",
                "SharedOutageEnded",
                f"dependency {name} no longer fails in most pods: "
                "each pod follows its own verdict again",
            )
        )
    return out

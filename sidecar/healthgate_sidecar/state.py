"""Component state: statuses, thresholds with hysteresis, and the aggregate status.

Pure data and rules, no I/O: the engine feeds :class:`Result` objects in, the probe handlers
read :class:`Component` objects out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from healthgate_sidecar import wire
from healthgate_sidecar.checks.base import Details, Reason
from healthgate_sidecar.wire import SEVERITY, STATUSES, Status

if TYPE_CHECKING:
    from healthgate_sidecar.contract import Dependency

__all__ = [
    "SEVERITY",
    "STATUSES",
    "Component",
    "Overall",
    "Result",
    "Status",
    "aggregate",
    "is_slow",
]


def is_slow(duration: float, degraded_latency_ms: float | None) -> bool:
    """A successful check that took longer than ``degradedLatencyMs`` (seconds vs ms)."""
    return degraded_latency_ms is not None and duration * 1000 > degraded_latency_ms


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one check run."""

    ok: bool
    reason: Reason
    message: str
    duration: float  # seconds
    at: float  # wall-clock time (Unix seconds) when the check finished
    details: Details = field(default_factory=dict)


@dataclass(slots=True)
class Component:
    """What is known about one dependency, updated by :meth:`record`."""

    name: str
    type: str
    critical: bool = True
    required_for_startup: bool = False
    failure_threshold: int = 3
    success_threshold: int = 1
    degraded_latency_ms: float | None = None
    status: Status = "unknown"
    reason: Reason | None = None
    message: str = "no result yet"
    duration: float | None = None
    details: Details = field(default_factory=dict)
    last_checked: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    ever_healthy: bool = False

    @classmethod
    def for_dependency(cls, dep: Dependency) -> Component:
        return cls(
            name=dep.name,
            type=dep.type,
            critical=dep.critical,
            required_for_startup=dep.required_for_startup,
            failure_threshold=dep.failure_threshold,
            success_threshold=dep.success_threshold,
            degraded_latency_ms=dep.degraded_latency_ms,
        )

    def record(self, result: Result) -> Status | None:
        """Apply a result; return the previous status when the status changed, else None."""
        self.last_checked = result.at
        self.reason, self.message, self.duration = result.reason, result.message, result.duration
        if result.ok:
            self.details = result.details
            self.last_success = result.at
            self.consecutive_successes += 1
            self.consecutive_failures = 0
        else:
            self.last_failure = result.at
            self.consecutive_failures += 1
            self.consecutive_successes = 0
        previous, self.status = self.status, self._next_status(result)
        if wire.is_up(self.status):
            self.ever_healthy = True
        return previous if previous != self.status else None

    def go_stale(self, message: str) -> Status | None:
        """No round finished for too long (see :mod:`stale`): the old status no longer holds.

        Returns the previous status when it changed. The next result decides afresh, as the
        first one does.
        """
        self.reason, self.message = "stale", message
        previous, self.status = self.status, "unknown"
        return previous if previous != self.status else None

    def _next_status(self, result: Result) -> Status:
        if result.ok:
            slow = is_slow(result.duration, self.degraded_latency_ms)
            if self.status == "unhealthy" and self.consecutive_successes < self.success_threshold:
                return "unhealthy"  # hysteresis: one lucky answer does not restore readiness
            return "degraded" if slow else "healthy"
        # From unknown there is no last good status to hold on to: the first failure counts.
        if self.status == "unknown" or self.consecutive_failures >= self.failure_threshold:
            return "unhealthy"
        return self.status


@dataclass(frozen=True, slots=True)
class Overall:
    status: Status
    ready: bool


def aggregate(components: Iterable[Component], exclude: Collection[str] = ()) -> Overall:
    """Worst status of the critical components; a failing non-critical one only degrades.

    Ready means every critical component has a result and none is unhealthy.
    """
    worst: Status = "healthy"
    ready = True
    for comp in components:
        if comp.name in exclude:
            continue
        status = comp.status
        if comp.critical:
            ready = ready and wire.is_up(status)
        elif status in ("degraded", "unhealthy"):
            status = "degraded"
        else:
            continue
        if SEVERITY[status] > SEVERITY[worst]:
            worst = status
    return Overall(status=worst, ready=ready)


def startup_complete(components: Iterable[Component]) -> bool:
    """Every component has a result and every ``requiredForStartup`` one was healthy once."""
    return all(
        c.last_checked is not None and (c.ever_healthy or not c.required_for_startup)
        for c in components
    )

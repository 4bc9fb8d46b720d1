"""The operator's own Prometheus metrics: the gates' aggregate and the webhook's work.

Gate figures are kept as the last snapshot per gate and rendered at scrape time by a custom
collector, so a deleted gate's series disappear with one ``forget`` (no stale label sets to hunt
down across three gauges). Label values come from gate specs, so cardinality is bounded by them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgate_operator.builders.status import POD_STATUSES, Summary
from healthgate_operator.crd.status import GATE_STATUSES

POD_STATES = ("total", "injected", "ready", "not_injected")


@dataclass
class Snapshot:
    status: str
    pods: dict[str, int]
    dependencies: dict[str, dict[str, int]] = field(default_factory=dict)
    shared_outage: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, summary: Summary, shared_outage: dict[str, int] | None = None) -> Snapshot:
        pods = {
            "total": summary.total,
            "injected": summary.injected,
            "ready": summary.ready,
            "not_injected": summary.total - summary.injected,
        }
        deps = {d["name"]: {s: int(d[s]) for s in POD_STATUSES} for d in summary.dependencies}
        shared = dict(shared_outage or {})
        return cls(status=summary.status, pods=pods, dependencies=deps, shared_outage=shared)


class GateCollector(Collector):
    """Renders the latest snapshot of every gate."""

    def __init__(self) -> None:
        self.snapshots: dict[tuple[str, str], Snapshot] = {}

    def update(
        self, namespace: str, name: str, summary: Summary, shared: dict[str, int] | None = None
    ) -> None:
        self.snapshots[(namespace, name)] = Snapshot.of(summary, shared)

    def forget(self, namespace: str, name: str) -> None:
        self.snapshots.pop((namespace, name), None)

    def collect(self) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            "healthgate_gate_status",
            "1 for the gate's current overall status, 0 for the others.",
            labels=["namespace", "name", "status"],
        )
        pods = GaugeMetricFamily(
            "healthgate_gate_pods",
            "Pods selected by the gate, by state (total, injected, ready, not_injected).",
            labels=["namespace", "name", "state"],
        )
        deps = GaugeMetricFamily(
            "healthgate_gate_dependency_pods",
            "Injected pods reporting a dependency in each status.",
            labels=["namespace", "name", "dependency", "status"],
        )
        shared = GaugeMetricFamily(
            "healthgate_gate_dependency_shared_outage",
            "1 while a critical dependency is in a shared outage (failing in most pods) and "
            "the gate's pods fail open on it, 0 otherwise.",
            labels=["namespace", "name", "dependency"],
        )
        for (namespace, name), snap in sorted(self.snapshots.items()):
            for dependency, failing_open in snap.shared_outage.items():
                shared.add_metric([namespace, name, dependency], float(failing_open))
            for value in GATE_STATUSES:
                status.add_metric([namespace, name, value], 1.0 if snap.status == value else 0.0)
            for state in POD_STATES:
                pods.add_metric([namespace, name, state], float(snap.pods.get(state, 0)))
            for dependency, counts in snap.dependencies.items():
                for value, count in counts.items():
                    deps.add_metric([namespace, name, dependency, value], float(count))
        yield status
        yield pods
        yield deps
        yield shared


@dataclass
class Metrics:
    """Everything the operator exports, in one registry (a fresh one per test)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    gates: GateCollector = field(default_factory=GateCollector)

    def __post_init__(self) -> None:
        self.registry.register(self.gates)
        self.admissions = Counter(
            "healthgate_webhook_admissions",
            "Pod admission reviews answered, by outcome (injected, no-gate, opted-out, ...).",
            ["outcome"],
            registry=self.registry,
        )
        self.admission_seconds = Histogram(
            "healthgate_webhook_admission_duration_seconds",
            "Time to answer one pod admission review, inside the operator.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.refresh_seconds = Histogram(
            "healthgate_status_refresh_duration_seconds",
            "Time to read every selected pod's sidecar /health for one gate's status refresh.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.round_seconds = Histogram(
            "healthgate_status_round_duration_seconds",
            "Time to refresh every served gate once (one status round).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.status_writes = Counter(
            "healthgate_status_writes",
            "Status refreshes by outcome: written, or unchanged (no API call).",
            ["outcome"],
            registry=self.registry,
        )
        self.refresh_age = Gauge(
            "healthgate_operator_last_refresh_age_seconds",
            "Seconds since any gate's status was last refreshed (written, or found current; 0 "
            "while no gate is served); "
            "/healthz fails above --refresh-stale-after.",
            registry=self.registry,
        )


async def serve(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Start the /metrics endpoint; the caller cleans the runner up."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner

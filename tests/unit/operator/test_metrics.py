"""metrics: the gate aggregate as Prometheus series, in a fresh registry per test."""

from __future__ import annotations

from prometheus_client import generate_latest

from healthgate_operator import metrics
from healthgate_operator.builders.status import PodReport, summarize
from healthgate_sidecar import wire


def sample(registry: metrics.Metrics, name: str, labels: dict[str, str]) -> float | None:
    return registry.registry.get_sample_value(name, labels)


def test_gate_series_and_forget() -> None:
    m = metrics.Metrics()
    report: wire.HealthBody = {
        "status": "unhealthy",
        "ready": False,
        "components": {"cache": {"status": "unhealthy", "type": "redis", "critical": True}},
    }
    summary = summarize(
        ["cache"], [PodReport("a", True, False, report), PodReport("b", False, True)], None
    )
    m.gates.update("tta", "api", summary)
    base = {"namespace": "tta", "name": "api"}
    assert sample(m, "healthgate_gate_status", {**base, "status": "Unhealthy"}) == 1.0
    assert sample(m, "healthgate_gate_status", {**base, "status": "Healthy"}) == 0.0
    assert sample(m, "healthgate_gate_pods", {**base, "state": "total"}) == 2.0
    assert sample(m, "healthgate_gate_pods", {**base, "state": "not_injected"}) == 1.0
    labels = {**base, "dependency": "cache", "status": "unhealthy"}
    assert sample(m, "healthgate_gate_dependency_pods", labels) == 1.0
    m.gates.forget("tta", "api")
    assert sample(m, "healthgate_gate_status", {**base, "status": "Unhealthy"}) is None


def test_webhook_metrics_exist() -> None:
    m = metrics.Metrics()
    m.admissions.labels(outcome="injected").inc()
    m.admission_seconds.observe(0.003)
    text = generate_latest(m.registry).decode()
    assert 'healthgate_webhook_admissions_total{outcome="injected"} 1.0' in text
    assert "healthgate_webhook_admission_duration_seconds_bucket" in text

"""Every metric the dashboard and the alerts query is one the sidecar or the operator exports.

The exported names come from the real metrics modules, built on a fresh CollectorRegistry each,
with the suffixes Prometheus' text format adds (_total, _bucket, _count, _sum, ...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from healthgate_operator import metrics as operator_metrics
from healthgate_sidecar import metrics as sidecar_metrics
from tests.unit.ship.promql import metric_names

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "healthgate"
# Series Prometheus itself writes for every target.
SCRAPE_SERIES = frozenset({"up"})
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def all_exported() -> set[str]:
    sidecar_registry = CollectorRegistry()
    sidecar = sidecar_metrics.Metrics(
        sidecar_registry,
        lambda: sidecar_metrics.Snapshot(components=(), ready=True, started=True),
    )
    sidecar.add("db")
    operator = operator_metrics.Metrics(registry=CollectorRegistry())
    return exported(sidecar_registry) | exported(operator.registry) | SCRAPE_SERIES


def dashboard_exprs() -> list[str]:
    dashboard: dict[str, Any] = json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def alert_exprs() -> list[str]:
    """The expr of each rule in files/alerts.yaml, with Helm's {{ ... }} removed."""
    text = (CHART / "files" / "alerts.yaml").read_text()
    text = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}", "", text)
    exprs = []
    for block in re.finditer(r"expr: (\|-?\n(?:\s{10,}.*\n)+|.*\n)", text):
        exprs.append(block.group(1).removeprefix("|-").removeprefix("|"))
    return exprs


def test_the_extractor_sees_names_and_ignores_the_rest() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (dependency, le) (rate(foo_bucket{a="b:c"}[5m])))'
        ' > 1 and on (x) bar unless absent(up{job="j"} == 1) offset 5m'
    )
    assert metric_names(expr) == {"foo_bucket", "bar", "up"}


def test_label_values_argument_is_a_metric() -> None:
    # label_values(metric, label) is Grafana's; its label argument is extracted too, so the
    # dashboard test below strips that form first (see dashboard_names).
    assert "healthgate_gate_status" in metric_names("label_values(healthgate_gate_status, ns)")


def dashboard_names() -> set[str]:
    names: set[str] = set()
    for expr in dashboard_exprs():
        plain = re.sub(r"label_values\((\w+),\s*\w+\)", r"\1", expr)
        names |= metric_names(plain)
    return names


def test_exported_names_include_the_suffixed_series() -> None:
    names = all_exported()
    assert "healthgate_dependency_checks_total" in names
    assert "healthgate_dependency_check_duration_seconds_bucket" in names
    assert "healthgate_webhook_admissions_total" in names
    assert "healthgate_operator_last_refresh_age_seconds" in names
    assert "healthgate_gate_status" in names
    assert "healthgate_dependency_up" in names


def test_dashboard_parses_and_has_the_panels() -> None:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("gate status", "dependency up", "latency", "check rate"):
        assert needed in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_queries_only_exported_metrics() -> None:
    names = dashboard_names()
    assert len(names) >= 6, names
    assert names <= all_exported(), names - all_exported()


def test_alerts_query_only_exported_metrics() -> None:
    exprs = alert_exprs()
    assert len(exprs) == 7, exprs
    names: set[str] = set().union(*(metric_names(e) for e in exprs))
    assert "up" in names
    assert "healthgate_webhook_admissions_total" in names
    assert "healthgate_operator_last_refresh_age_seconds" in names
    assert names <= all_exported(), names - all_exported()


@pytest.mark.parametrize("typo", ["healthgate_dependency_check_total", "healthgate_gate_statuses"])
def test_a_wrong_name_is_caught(typo: str) -> None:
    assert not metric_names(f"sum(rate({typo}[5m]))") <= all_exported()

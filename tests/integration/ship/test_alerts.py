"""The alerts fire on the series the code exports, and only after their ``for`` durations.

``promtool test rules`` evaluates the rendered PrometheusRule's groups on synthetic series named
like the real ones. Annotations are dropped from the copy under test: their templates are
checked by ``promtool check rules`` in test_chart.py; here only the firing behaviour matters.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.ship.conftest import MONITORING_API, Json, by_kind

pytestmark = pytest.mark.integration
Render = Callable[..., list[Json]]
GATE = 'namespace="shop",name="api"'

SERIES = [
    {
        "series": "healthgate_gate_dependency_pods"
        f'{{{GATE},dependency="redis",status="unhealthy"}}',
        "values": "1x30",
    },
    {"series": f'healthgate_gate_status{{{GATE},status="Degraded"}}', "values": "1x30"},
    {"series": 'up{job="healthgate-operator",instance="10.0.0.1:8080"}', "values": "0x30"},
    {"series": 'up{job="healthgate-sidecar",namespace="shop",pod="api-1"}', "values": "0x30"},
    {
        "series": 'healthgate_webhook_admissions_total{outcome="error"}',
        "values": "0+6x30",
    },
    {
        "series": 'healthgate_webhook_admissions_total{outcome="injected"}',
        "values": "0+6x30",
    },
    # One operator stalled for good: the age climbs 60 s a minute, restarts never help.
    {
        "series": 'healthgate_operator_last_refresh_age_seconds{job="healthgate-operator",'
        'namespace="healthgate",pod="op-1"}',
        "values": "0+60x30",
    },
    # Another, in a second install, stalls once for 3 minutes and a restart cures it.
    {
        "series": 'healthgate_operator_last_refresh_age_seconds{job="healthgate-operator",'
        'namespace="other",pod="op-2"}',
        "values": "0 60 120 180 0x26",
    },
    *(
        {
            "series": "healthgate_dependency_check_duration_seconds_bucket"
            f'{{namespace="shop",pod="api-1",dependency="llm",le="{le}"}}',
            "values": values,
        }
        for le, values in (("0.5", "0x30"), ("2.5", "0+10x30"), ("+Inf", "0+10x30"))
    ),
]


def alert(alertname: str, /, **labels: str) -> Json:
    """One expectation: fired with exactly these labels, or not at all when none are given."""
    return {"alertname": alertname, "exp_alerts": [{"exp_labels": labels}] if labels else []}


def at(minutes: int, *alerts: Json) -> list[Json]:
    return [{"eval_time": f"{minutes}m", **a} for a in alerts]


CASES = [
    # Before the `for` durations: nothing fires.
    *at(
        3,
        alert("HealthGateDependencyUnhealthy"),
        alert("HealthGateOperatorDown"),
        alert("HealthGateSidecarDown"),
    ),
    *at(
        6,
        alert(
            "HealthGateDependencyUnhealthy",
            severity="critical",
            namespace="shop",
            name="api",
            dependency="redis",
        ),
        alert("HealthGateOperatorDown", severity="critical"),
        alert(
            "HealthGateSidecarDown",
            severity="warning",
            job="healthgate-sidecar",
            namespace="shop",
            pod="api-1",
        ),
        alert("HealthGateDegraded"),
    ),
    *at(
        20,
        alert("HealthGateDegraded", severity="warning", namespace="shop", name="api"),
        alert(
            "HealthGateCheckLatencyHigh",
            severity="warning",
            namespace="shop",
            pod="api-1",
            dependency="llm",
        ),
        alert("HealthGateWebhookErrors", severity="warning"),
        # Stalled beyond 90 s since minute 2, for 10m: fires for "healthgate" only; "other"'s
        # 3-minute stall left the 5m window by minute 9.
        alert("HealthGateStatusStale", severity="warning", namespace="healthgate"),
    ),
    *at(10, alert("HealthGateStatusStale")),
]


def without_annotations(groups: list[Any]) -> list[Any]:
    return [
        {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
        for g in groups
    ]


def test_alerts_fire_as_intended(render: Render, promtool: Path, tmp_path: Path) -> None:
    (rule,) = by_kind(render(api_versions=[MONITORING_API]), "PrometheusRule")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": without_annotations(rule["spec"]["groups"])}))
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": SERIES, "alert_rule_test": CASES}],
            }
        )
    )
    proc = subprocess.run(
        [str(promtool), "test", "rules", tests.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_thresholds_are_values(render: Render, tmp_path: Path) -> None:
    # A values file, not --set: helm's --set turns 2.5 into a string, which the schema refuses.
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "prometheusRule": {
                    "alerts": {
                        "checkLatencyHigh": {"thresholdSeconds": 2.5},
                        "dependencyUnhealthy": {"for": "7m"},
                        "webhookErrors": {"ratio": 0.2},
                    }
                }
            }
        )
    )
    (rule,) = by_kind(render(values, api_versions=[MONITORING_API]), "PrometheusRule")
    by_name = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert by_name["HealthGateCheckLatencyHigh"]["expr"].rstrip().endswith("> 2.5")
    assert by_name["HealthGateDependencyUnhealthy"]["for"] == "7m"
    assert by_name["HealthGateWebhookErrors"]["expr"].rstrip().endswith("> 0.2")

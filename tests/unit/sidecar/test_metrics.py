"""Metric names and labels exactly as documented, on a fresh registry per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from healthgate_sidecar import __version__, engine, metrics
from healthgate_sidecar.state import STATUSES
from tests.unit.sidecar.helpers import Script, config, dependency, refused, wait_for


@pytest.fixture
async def setup() -> AsyncIterator[tuple[engine.Engine, CollectorRegistry, Script]]:
    registry = CollectorRegistry()
    script = Script(bad=refused)
    eng = engine.Engine(create=script)
    eng.metrics = metrics.Metrics(registry, eng.snapshot)
    await eng.apply(
        config(dependency("good"), dependency("bad", critical=False, failureThreshold=1))
    )
    await wait_for(lambda: all(c.last_checked for c in eng.components()))
    yield eng, registry, script
    await eng.stop()


async def test_state_gauges(setup: tuple[engine.Engine, CollectorRegistry, Script]) -> None:
    _, registry, _ = setup
    value = registry.get_sample_value
    assert (
        value("healthgate_dependency_up", {"dependency": "good", "type": "env", "critical": "true"})
        == 1
    )
    assert (
        value("healthgate_dependency_up", {"dependency": "bad", "type": "env", "critical": "false"})
        == 0
    )
    for status in STATUSES:
        expected = 1 if status == "unhealthy" else 0
        assert (
            value("healthgate_dependency_status", {"dependency": "bad", "status": status})
            == expected
        )
    assert value("healthgate_ready") == 1
    assert value("healthgate_startup_complete") == 1


async def test_check_counters_and_histogram(
    setup: tuple[engine.Engine, CollectorRegistry, Script],
) -> None:
    _, registry, _ = setup
    value = registry.get_sample_value
    good = {"dependency": "good", "result": "success", "reason": "ok"}
    bad = {"dependency": "bad", "result": "failure", "reason": "connect"}
    assert (value("healthgate_dependency_checks_total", good) or 0) >= 1
    assert (value("healthgate_dependency_checks_total", bad) or 0) >= 1
    count = value("healthgate_dependency_check_duration_seconds_count", {"dependency": "good"})
    assert count is not None
    assert count >= 1


async def test_no_created_series(setup: tuple[engine.Engine, CollectorRegistry, Script]) -> None:
    # One more stored series per counter and histogram, and a tenth of every render's lines.
    eng, _, _ = setup
    assert eng.metrics is not None
    body = eng.metrics.expose(eng.snapshot(), "")[0].decode()
    assert "healthgate_dependency_checks_total{" in body
    assert "_created" not in body


async def test_reload_gauge_and_series_removal(
    setup: tuple[engine.Engine, CollectorRegistry, Script],
) -> None:
    eng, registry, _ = setup
    assert eng.metrics is not None
    eng.metrics.reloaded(ok=False, at=123.0)
    assert registry.get_sample_value("healthgate_config_last_reload_successful") == 0
    await eng.apply(config(dependency("good")))
    text = generate_latest(registry).decode()
    assert 'dependency="bad"' not in text
    assert 'dependency="good"' in text


async def test_label_values_come_only_from_the_config(
    setup: tuple[engine.Engine, CollectorRegistry, Script],
) -> None:
    _, registry, _ = setup
    allowed = {"good", "bad", "env", "true", "false", "success", "failure", *STATUSES}
    allowed |= {"ok", "connect", __version__}
    for family in registry.collect():
        for sample in family.samples:
            for name, val in sample.labels.items():
                if name != "le":
                    assert val in allowed, (family.name, name, val)

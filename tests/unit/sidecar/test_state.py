"""Thresholds, hysteresis, degraded latency and the aggregate status (pure rules)."""

from __future__ import annotations

import pytest

from healthgate_sidecar import engine
from healthgate_sidecar.contract import parse_config
from healthgate_sidecar.state import (
    Component,
    Result,
    Status,
    aggregate,
    is_slow,
    startup_complete,
)


def ok(duration: float = 0.01) -> Result:
    return Result(True, "ok", "ok", duration, 1.0)


def fail() -> Result:
    return Result(False, "connect", "refused", 0.01, 2.0)


def statuses(comp: Component, results: list[Result]) -> list[Status]:
    seen = []
    for result in results:
        comp.record(result)
        seen.append(comp.status)
    return seen


def test_unknown_until_the_first_result() -> None:
    comp = Component(name="a", type="redis")
    assert comp.status == "unknown"
    assert comp.last_checked is None


def test_a_single_failure_does_not_flip_a_healthy_dependency() -> None:
    comp = Component(name="a", type="redis", failure_threshold=3)
    assert statuses(comp, [ok(), fail(), fail(), ok(), fail(), fail(), fail()]) == [
        "healthy", "healthy", "healthy", "healthy", "healthy", "healthy", "unhealthy",
    ]  # fmt: skip
    assert comp.consecutive_failures == 3
    assert comp.message == "refused"
    assert comp.reason == "connect"


def test_first_result_failing_is_unhealthy_at_once() -> None:
    comp = Component(name="a", type="redis", failure_threshold=3)
    assert statuses(comp, [fail()]) == ["unhealthy"]


def test_success_threshold_gives_hysteresis_on_recovery() -> None:
    comp = Component(name="a", type="redis", failure_threshold=1, success_threshold=3)
    assert statuses(comp, [fail(), ok(), ok(), fail(), ok(), ok(), ok()]) == [
        "unhealthy", "unhealthy", "unhealthy", "unhealthy", "unhealthy", "unhealthy", "healthy",
    ]  # fmt: skip


def test_a_slow_answer_is_degraded_not_unhealthy() -> None:
    comp = Component(name="a", type="redis", degraded_latency_ms=100)
    assert statuses(comp, [ok(0.01), ok(0.2), ok(0.05)]) == ["healthy", "degraded", "healthy"]


def test_degraded_holds_through_failures_below_threshold() -> None:
    comp = Component(name="a", type="redis", degraded_latency_ms=100, failure_threshold=2)
    assert statuses(comp, [ok(0.2), fail(), fail()]) == ["degraded", "degraded", "unhealthy"]


def test_record_reports_the_previous_status_only_on_change() -> None:
    comp = Component(name="a", type="redis", failure_threshold=1)
    assert comp.record(ok()) == "unknown"
    assert comp.record(ok()) is None
    assert comp.record(fail()) == "healthy"
    assert comp.last_success == 1.0
    assert comp.last_failure == 2.0


def make(name: str, status: Status, *, critical: bool = True) -> Component:
    return Component(name=name, type="redis", critical=critical, status=status)


@pytest.mark.parametrize(
    ("components", "status", "ready"),
    [
        ([], "healthy", True),
        ([make("a", "healthy"), make("b", "healthy")], "healthy", True),
        ([make("a", "healthy"), make("b", "degraded")], "degraded", True),
        ([make("a", "degraded"), make("b", "unhealthy")], "unhealthy", False),
        ([make("a", "healthy"), make("b", "unknown")], "unknown", False),
        ([make("a", "unknown"), make("b", "unhealthy")], "unhealthy", False),
        ([make("a", "healthy"), make("b", "unhealthy", critical=False)], "degraded", True),
        ([make("a", "healthy"), make("b", "unknown", critical=False)], "healthy", True),
        ([make("a", "degraded"), make("b", "unhealthy", critical=False)], "degraded", True),
    ],
)
def test_aggregate(components: list[Component], status: Status, ready: bool) -> None:
    overall = aggregate(components)
    assert (overall.status, overall.ready) == (status, ready)


def test_aggregate_with_exclusions() -> None:
    comps = [make("a", "healthy"), make("b", "unhealthy")]
    assert aggregate(comps, exclude=["b"]).ready
    assert not aggregate(comps, exclude=["a"]).ready


def test_startup_needs_a_result_everywhere_and_health_where_required() -> None:
    a = Component(name="a", type="redis", required_for_startup=True, failure_threshold=1)
    b = Component(name="b", type="redis")
    assert not startup_complete([a, b])
    b.record(fail())
    a.record(fail())
    assert not startup_complete([a, b])  # a must be healthy once
    a.record(ok())
    assert startup_complete([a, b])
    a.record(fail())
    assert a.ever_healthy  # what the engine latches on


def test_the_degraded_message_and_status_follow_one_latency_rule() -> None:
    """The engine's "slow: ..." message and the degraded status come from the same predicate."""
    dep = parse_config(
        {
            "dependencies": [
                {"name": "a", "type": "env", "env": {"names": ["HOME"]}, "degradedLatencyMs": 100}
            ]
        }
    ).dependencies[0]
    for duration in (0.05, 0.1, 0.1001, 0.2):
        comp = Component.for_dependency(dep)
        comp.record(ok(duration))
        slow = engine._ok_message(dep, duration).startswith("slow")
        assert slow == (comp.status == "degraded") == is_slow(duration, 100), duration
    assert not is_slow(10.0, None)


def test_ready_with_exclude_is_the_engine_rule() -> None:
    eng = engine.Engine()
    eng.config = parse_config({"dependencies": []})
    down = Component(name="db", type="redis")
    down.record(fail())
    eng.runners = {"db": engine.Runner(dep=None, component=down)}  # type: ignore[arg-type]
    eng._refresh()
    assert (eng.ready, eng.is_ready(["db"]), eng.is_ready(["other"])) == (False, True, False)
    eng.begin_drain()
    assert not eng.is_ready(["db"])

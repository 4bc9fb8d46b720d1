"""The refresh watchdog behind /healthz and healthgate_operator_last_refresh_age_seconds."""

from __future__ import annotations

import pytest

from healthgate_operator import config, runtime
from healthgate_operator.watchdog import Stalled, Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_age_grows_without_writes_and_resets_on_a_write() -> None:
    clock = Clock()
    dog = Watchdog(stale_after=30, clock=clock)
    dog.started()
    clock.now += 20
    assert dog.check() == 20
    clock.now += 11
    with pytest.raises(Stalled, match="31s"):
        dog.check()
    dog.refreshed()
    assert dog.check() == 0


def test_no_loops_means_nothing_is_late() -> None:
    clock = Clock()
    dog = Watchdog(stale_after=30, clock=clock)
    clock.now += 100  # an operator with no gates, or a standby replica
    assert dog.check() == 0
    dog.started()  # the first gate: idle time before it is not lateness
    assert dog.age() == 0
    dog.started()
    dog.stopped()
    clock.now += 40
    with pytest.raises(Stalled):
        dog.check()
    dog.stopped()
    assert dog.check() == 0


def test_the_metric_reads_the_watchdog() -> None:
    rt = runtime.Runtime(config=config.parse([], {}))
    rt.watchdog.started()
    rt.watchdog.last -= 42
    value = rt.metrics.registry.get_sample_value("healthgate_operator_last_refresh_age_seconds")
    assert value is not None
    assert value >= 42


def test_stale_limit_must_exceed_the_interval() -> None:
    with pytest.raises(SystemExit, match="refresh-stale-after"):
        config.parse(["--status-interval=10", "--refresh-stale-after=10"], {})
    assert config.parse(["--refresh-stale-after=60"], {}).status.refresh_stale_after == 60

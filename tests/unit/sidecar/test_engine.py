"""The scheduler: timeouts, thresholds over time, scrubbing, stuck checks, reload, latching."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from healthgate_sidecar import engine, redact
from healthgate_sidecar.checks.base import Checker, CheckFailure, Details
from healthgate_sidecar.contract import Dependency
from tests.unit.sidecar.helpers import (
    Behaviour,
    Script,
    config,
    dependency,
    hangs,
    healthy,
    refused,
    slow,
    wait_for,
)


@pytest.fixture
async def running() -> AsyncIterator[list[engine.Engine]]:
    engines: list[engine.Engine] = []
    yield engines
    for eng in engines:
        await eng.stop()


async def start(
    running: list[engine.Engine], script: Script, *deps: dict[str, object]
) -> engine.Engine:
    eng = engine.Engine(create=script)
    running.append(eng)
    await eng.apply(config(*deps))
    return eng


async def test_unknown_and_not_ready_before_the_first_result(running: list[engine.Engine]) -> None:
    eng = await start(running, Script(a=hangs), dependency("a", timeoutSeconds=0.09))
    comp = eng.runners["a"].component
    assert comp.status == "unknown"
    assert not eng.ready
    assert eng.overall.status == "unknown"


async def test_healthy_with_details(running: list[engine.Engine]) -> None:
    eng = await start(running, Script(), dependency("a"))
    await wait_for(lambda: eng.ready)
    comp = eng.runners["a"].component
    assert (comp.status, comp.reason, comp.details) == ("healthy", "ok", {"answer": 42})


async def test_timeout_becomes_a_timeout_failure(running: list[engine.Engine]) -> None:
    eng = await start(running, Script(a=hangs), dependency("a"))
    comp = eng.runners["a"].component
    await wait_for(lambda: comp.status == "unhealthy")
    assert comp.reason == "timeout"
    assert comp.message == "no answer within 0.05s"
    assert 0.04 < (comp.duration or 0) < 0.5


async def test_readiness_flips_within_interval_times_threshold(
    running: list[engine.Engine],
) -> None:
    script = Script()
    dep = dependency("a", intervalSeconds=0.2, timeoutSeconds=0.1, failureThreshold=3)
    eng = await start(running, script, dep)
    await wait_for(lambda: eng.ready)
    script.behaviours["a"] = hangs
    comp = eng.runners["a"].component
    seen: list[tuple[int, bool]] = []  # (consecutive failures, ready), sampled until NotReady

    def sample() -> bool:
        seen.append((comp.consecutive_failures, eng.ready))
        return not eng.ready

    await wait_for(sample, timeout=3)
    # Hysteresis, counted rather than timed (timing lives in bench/): ready through the
    # first two failures, NotReady from the third.
    assert all(ready for failures, ready in seen if failures < 3)
    assert seen[-1][0] >= 3
    script.behaviours["a"] = healthy
    await wait_for(lambda: eng.ready, timeout=3)


async def test_messages_are_scrubbed_and_truncated(running: list[engine.Engine]) -> None:
    redact.register_secret("engine-canary-Pw")

    async def leaky() -> Details:
        raise CheckFailure("auth", "login failed for engine-canary-Pw " + "x" * 1000)

    eng = await start(running, Script(a=leaky), dependency("a"))
    comp = eng.runners["a"].component
    await wait_for(lambda: comp.status == "unhealthy")
    assert "engine-canary-Pw" not in comp.message
    assert len(comp.message) <= engine.MESSAGE_LIMIT
    assert comp.reason == "auth"


async def test_a_crashing_check_is_an_error_and_the_schedule_goes_on(
    running: list[engine.Engine],
) -> None:
    async def buggy() -> Details:
        raise KeyError("oops")

    script = Script(a=buggy)
    eng = await start(running, script, dependency("a"))
    await wait_for(lambda: len(script.calls.get("a", [])) >= 3)
    comp = eng.runners["a"].component
    assert (comp.status, comp.reason) == ("unhealthy", "error")
    assert "KeyError" in comp.message
    assert eng.liveness_problems() == []


async def test_checker_creation_failure_is_reported_and_retried(
    running: list[engine.Engine],
) -> None:
    attempts: list[str] = []

    def flaky_factory(dep: Dependency) -> Checker:
        attempts.append(dep.name)
        if len(attempts) < 3:
            raise CheckFailure("error", "environment variable REDIS_URL is not set or empty")
        return Checker(check=healthy)

    eng = engine.Engine(create=flaky_factory)
    running.append(eng)
    await eng.apply(config(dependency("a", failureThreshold=5)))
    comp = eng.runners["a"].component
    await wait_for(lambda: comp.status == "unhealthy")
    assert "REDIS_URL" in comp.message
    await wait_for(lambda: comp.status == "healthy")
    assert len(attempts) == 3


async def test_interval_is_kept_between_starts(running: list[engine.Engine]) -> None:
    script = Script(a=slow(0.03))
    await start(running, script, dependency("a", intervalSeconds=0.1))
    await wait_for(lambda: len(script.calls.get("a", [])) >= 5, timeout=2)
    calls = script.calls["a"]
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(0.08 < gap < 0.2 for gap in gaps), gaps


async def test_jitter_spreads_first_checks(running: list[engine.Engine]) -> None:
    script = Script()
    eng = engine.Engine(create=script)
    running.append(eng)
    deps = [dependency(f"d{i}", intervalSeconds=1, timeoutSeconds=0.5) for i in range(20)]
    await eng.apply(config(*deps, jitter=0.5))
    await wait_for(lambda: len(script.calls) == 20, timeout=2)
    firsts = sorted(calls[0] for calls in script.calls.values())
    assert firsts[-1] - firsts[0] > 0.05


async def test_a_check_ignoring_cancellation_is_reported_stuck(
    running: list[engine.Engine],
) -> None:
    async def stubborn() -> Details:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.5)  # a badly behaved driver swallowing the timeout
        return {}

    eng = await start(running, Script(a=stubborn), dependency("a"))
    assert eng.liveness_problems() == []
    await wait_for(lambda: bool(eng.liveness_problems()), timeout=2)
    assert "check a stuck" in eng.liveness_problems()[0]


async def test_apply_keeps_unchanged_dependencies_state(running: list[engine.Engine]) -> None:
    script = Script(b=refused)
    eng = await start(running, script, dependency("a"), dependency("b"), dependency("c"))
    await wait_for(lambda: all(c.last_checked for c in eng.components()))
    kept = eng.runners["a"].component
    checks_before = len(script.calls["a"])
    await eng.apply(config(dependency("a"), dependency("b", failureThreshold=5), dependency("d")))
    assert eng.runners["a"].component is kept
    assert len(script.calls["a"]) >= checks_before
    assert eng.runners["b"].component.status == "unknown"  # changed: starts afresh
    assert set(eng.runners) == {"a", "b", "d"}
    assert sorted(script.closed) == ["b", "c"]
    assert script.created.count("a") == 1  # the client of "a" was reused


async def test_startup_latches(running: list[engine.Engine]) -> None:
    script = Script(a=refused)
    eng = await start(running, script, dependency("a", requiredForStartup=True, failureThreshold=1))
    await wait_for(lambda: eng.runners["a"].component.last_checked is not None)
    assert not eng.started
    script.behaviours["a"] = healthy
    await wait_for(lambda: eng.started)
    script.behaviours["a"] = refused
    await wait_for(lambda: eng.runners["a"].component.status == "unhealthy")
    assert eng.started


async def test_draining_turns_readiness_off(running: list[engine.Engine]) -> None:
    eng = await start(running, Script(), dependency("a"))
    await wait_for(lambda: eng.ready)
    eng.begin_drain()
    assert not eng.ready
    assert eng.overall.ready  # the dependencies are still fine: only we are leaving


async def test_stop_closes_clients(running: list[engine.Engine]) -> None:
    script = Script()
    eng = await start(running, script, dependency("a"), dependency("b"))
    await wait_for(lambda: eng.ready)
    await eng.stop()
    assert sorted(script.closed) == ["a", "b"]
    assert eng.runners == {}


async def test_check_once_runs_everything_concurrently() -> None:
    # a and b each finish only once both have started: run one after the other, they would
    # time out instead of being healthy.
    started: list[str] = []
    both = asyncio.Event()

    def meets(name: str) -> Behaviour:
        async def check() -> Details:
            started.append(name)
            if len(started) == 2:
                both.set()
            await both.wait()
            return {}

        return check

    script = Script(a=meets("a"), b=meets("b"), c=refused)
    generous = {"intervalSeconds": 2, "timeoutSeconds": 1}  # a loaded machine is no failure
    cfg = config(
        dependency("a", **generous), dependency("b", **generous), dependency("c", critical=False)
    )
    eng = await engine.check_once(cfg, create=script)
    assert [c.status for c in eng.components()] == ["healthy", "healthy", "unhealthy"]
    assert eng.ready  # c is not critical
    assert eng.overall.status == "degraded"
    assert sorted(script.closed) == ["a", "b", "c"]


async def test_stop_even_if_a_check_swallows_cancellation() -> None:
    async def swallow() -> Details:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise CheckFailure("connect", "connection lost") from None  # some drivers do this
        return {}

    eng = engine.Engine(create=Script(a=swallow))
    await eng.apply(config(dependency("a", intervalSeconds=2, timeoutSeconds=1)))
    await wait_for(lambda: eng.runners["a"].in_flight_since is not None)
    await asyncio.wait_for(eng.stop(), timeout=3)
    assert eng.runners == {}

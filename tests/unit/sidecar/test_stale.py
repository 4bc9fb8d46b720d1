"""Stale results (issue 15): a check that stops finishing rounds stops vouching for its dependency.

The real engine runs a check whose driver swallows the timeout's cancellation and hangs, the way
a badly behaved client library does; a starved loop, on the other hand, must not make anything
stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from healthgate_sidecar import engine, lag, render, stale, state
from healthgate_sidecar.checks.base import Details
from tests.unit.sidecar.helpers import Script, config, dependency, healthy, wait_for

DEP = dependency("a", intervalSeconds=0.1, timeoutSeconds=0.05)


@pytest.fixture
async def eng() -> AsyncIterator[engine.Engine]:
    eng = engine.Engine(create=Script())
    yield eng
    await eng.stop()


def test_the_bound_is_three_intervals_plus_the_timeout() -> None:
    assert stale.bound(config(DEP).dependencies[0]) == pytest.approx(0.35)


async def test_a_check_that_stops_finishing_rounds_turns_unknown_stale(
    eng: engine.Engine,
) -> None:
    script = Script()
    eng._create = script
    await eng.apply(config(DEP))
    comp = eng.runners["a"].component
    await wait_for(lambda: comp.status == "healthy")
    released = asyncio.Event()

    async def stuck() -> Details:
        while not released.is_set():
            # A driver swallowing the engine's timeout: no round ever ends.
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()
        return {}

    script.behaviours["a"] = stuck
    try:
        await wait_for(lambda: comp.reason == "stale")
        assert comp.status == "unknown"
        assert "stale after 0.35s" in comp.message
        assert not eng.ready  # a critical dependency nobody vouches for
        lines = render.readyz_lines(eng.components(), loaded=True, draining=False, exclude=())
        assert "[-]a failed: stale" in lines
    finally:  # else the stuck check would hold up the engine's stop
        script.behaviours["a"] = healthy
        released.set()
    await wait_for(lambda: comp.status == "healthy")
    assert eng.ready


async def test_a_starved_loop_makes_nothing_stale(
    eng: engine.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    went_stale: list[str] = []
    original = state.Component.go_stale

    def spy(comp: state.Component, message: str) -> state.Status | None:
        went_stale.append(comp.name)
        return original(comp, message)

    monkeypatch.setattr(state.Component, "go_stale", spy)
    eng.lag = lag.LagMonitor()
    async with eng.lag.running():
        await eng.apply(config(DEP))
        comp = eng.runners["a"].component
        await wait_for(lambda: comp.status == "healthy")
        for _ in range(2):
            time.sleep(3 * stale.bound(eng.runners["a"].dep))  # the whole sidecar starved
            await asyncio.sleep(2 * stale.SWEEP_SECONDS)  # sweeps run, rounds resume
        assert went_stale == []
        assert comp.status == "healthy"


class _Switch(lag.LagMonitor):
    """A lag monitor the test turns on and off (it never ticks, so it counts no lost time)."""

    on = True

    def overloaded(self) -> bool:
        return self.on


async def test_checks_queued_for_a_slot_are_late_not_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A sidecar with more checks than slots: "a" waits behind "hog" for longer than its bound.
    # The loop itself no longer lags by then, so only the queue tells that the sidecar is late.
    monkeypatch.setattr(engine, "SLOTS", 1)
    went_stale: list[str] = []
    original = state.Component.go_stale

    def spy(comp: state.Component, message: str) -> state.Status | None:
        went_stale.append(comp.name)
        return original(comp, message)

    monkeypatch.setattr(state.Component, "go_stale", spy)

    async def hog() -> Details:
        await asyncio.sleep(1.5)
        return {}

    eng = engine.Engine(create=Script(hog=hog))
    switch = eng.lag = _Switch()
    try:
        hog_dep = dependency("hog", intervalSeconds=2, timeoutSeconds=1.9)
        await eng.apply(config(hog_dep, DEP))
        runner = eng.runners["hog"]
        await wait_for(lambda: runner.in_flight_since is not None)
        switch.on = False
        await wait_for(lambda: runner.in_flight_since is None)
        assert went_stale == []
    finally:
        await eng.stop()

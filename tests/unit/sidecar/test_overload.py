"""A starved event loop is not a failed dependency (issue 14 item 4), with the real engine.

Each test stalls the loop on purpose, the way a saturated sidecar does: a check starts inside a
long loop turn, after the lag monitor's next tick fell due, and other callbacks then hold the
loop past the check's timeout. No timing is asserted: the stall only makes a slow machine's
figures bigger, never changes which way a test goes.
"""

from __future__ import annotations

import asyncio
import time

from healthgate_sidecar import engine, lag, state
from healthgate_sidecar.checks.base import Details
from tests.unit.sidecar.helpers import Behaviour, Script, config, dependency, hangs, refused

STALL = 0.4  # seconds the loop is held after the check began: twice its timeout


async def _round_in_a_stalled_turn(behaviour: Behaviour) -> state.Result | None:
    """One round of dependency ``a`` begun in a loop turn that then stalls for STALL."""
    dep = config(dependency("a", intervalSeconds=1, timeoutSeconds=0.2)).dependencies[0]
    monitor = lag.LagMonitor()
    eng = engine.Engine(create=Script(a=behaviour))
    eng.lag = monitor
    runner = engine.Runner(dep=dep, component=state.Component.for_dependency(dep))
    loop = asyncio.get_running_loop()
    async with monitor.running():
        await asyncio.sleep(lag.TICK)  # the monitor ticks
        # One loop turn: a stall long enough for the monitor's next tick to fall due, the
        # check's start, then a stall past the check's timeout. The tick runs after all three,
        # whatever the order of the monitor's own callbacks around this step.
        loop.call_soon(time.sleep, 2 * lag.TICK)
        round_ = asyncio.create_task(eng.execute(runner))
        loop.call_soon(time.sleep, STALL)
        return await round_


async def test_a_check_begun_in_a_stalled_turn_is_skipped_not_failed() -> None:
    # The dependency never answers in this round, but the loop was held for twice the timeout:
    # nothing can be said about the dependency. Before the fix the stall, begun before the
    # check, was not counted and this was a timeout failure.
    assert await _round_in_a_stalled_turn(hangs) is None


async def test_a_real_failure_in_a_stalled_turn_still_fails() -> None:
    result = await _round_in_a_stalled_turn(refused)
    assert result is not None
    assert (result.ok, result.reason) == (False, "connect")


async def test_a_real_answer_in_a_stalled_turn_still_counts() -> None:
    async def answers() -> Details:
        await asyncio.sleep(0)
        return {}

    result = await _round_in_a_stalled_turn(answers)
    assert result is not None
    assert result.ok

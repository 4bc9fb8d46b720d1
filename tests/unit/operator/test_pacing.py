"""pacing.Pacer: status writes spaced by 1/rate, never let through in a burst."""

from __future__ import annotations

import asyncio

import pytest

from healthgate_operator import pacing


def test_a_burst_of_writes_is_spaced_evenly() -> None:
    pacer = pacing.Pacer(20.0)
    waits = [pacer.delay(100.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])


def test_a_write_after_a_quiet_spell_goes_at_once() -> None:
    pacer = pacing.Pacer(20.0)
    pacer.delay(100.0)
    assert pacer.delay(100.01) == pytest.approx(0.04)
    assert pacer.delay(200.0) == 0.0


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        pacing.Pacer(0)


async def test_turns_wait_on_the_event_loop() -> None:
    pacer = pacing.Pacer(50.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(pacer.turn() for _ in range(4)))
    # Three spacings of 20 ms at least: the fourth turn came 60 ms after the first.
    assert loop.time() - started >= 0.06 - 0.005

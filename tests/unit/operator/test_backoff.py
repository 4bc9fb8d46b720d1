"""The operator's retry pacing: doubling to a cap, back to the first delay after a success."""

from __future__ import annotations

import asyncio

from healthgate_operator.backoff import Backoff


def test_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff(first=0.001, cap=0.004)

    async def three_failures() -> list[float]:
        seen = []
        for _ in range(3):
            seen.append(backoff.delay)
            await backoff.wait()
        return seen

    assert asyncio.run(three_failures()) == [0.001, 0.002, 0.004]
    assert backoff.delay == 0.004  # capped, not 0.008
    backoff.reset()
    assert backoff.delay == 0.001

"""Cached bodies (:mod:`bodies`): a request that comes just as a render ends must not spin.

The render is a task; its result is stored by whoever finishes it. A request arriving in the
loop turn in which that task completed, before anything else ran, found the finished task still
listed as in flight, awaited it (a done future returns at once, without yielding) and looped:
the event loop spun for good, and probes, checks and SIGTERM with it. Found under a /health
storm in ``bench.sidecar_adversarial``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import pytest

from healthgate_sidecar import bodies, offload

T = TypeVar("T")


async def _at_once(func: Callable[[], T]) -> T:
    return func()  # a render that ends in the task's first step, as a fast one does


@pytest.mark.timeout(20)  # before the fix the loop spins and only this timeout ends the test
async def test_a_request_in_the_turn_a_render_ends_gets_a_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offload, "run", _at_once)
    cache = bodies.Bodies()
    first = asyncio.ensure_future(cache.get("k", 1, 1, lambda: b"one"))
    await asyncio.sleep(0)  # ``first`` has started the render: its task runs next turn...
    second = asyncio.ensure_future(cache.get("k", 2, 2, lambda: b"two"))  # ...then this
    assert await asyncio.wait_for(second, 5) == b"two"
    assert await first == b"one"

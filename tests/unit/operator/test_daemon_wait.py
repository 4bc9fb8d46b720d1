"""update_status.stopped_or_gone: a gate's daemon waits without waking every interval, and ends
as soon as Kopf stops it or a round finds its gate gone. Kopf's own stop flag, no I/O."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits import aioenums
from kopf._core.intents import stoppers

from healthgate_operator.handlers.update_status import stopped_or_gone


def flag() -> aioenums.FlagSetter[stoppers.DaemonStoppingReason]:
    return aioenums.FlagSetter()


async def test_ends_when_kopf_stops_the_daemon() -> None:
    stopper, gone = flag(), asyncio.Event()
    waiting = asyncio.create_task(stopped_or_gone(stopper.async_waiter, gone))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    stopper.set(stoppers.DaemonStoppingReason.RESOURCE_DELETED)
    async with asyncio.timeout(5):
        await waiting


async def test_ends_when_the_gate_is_gone() -> None:
    stopper, gone = flag(), asyncio.Event()
    waiting = asyncio.create_task(stopped_or_gone(stopper.async_waiter, gone))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gone.set()
    async with asyncio.timeout(5):
        await waiting


async def test_leaves_no_waiter_behind_when_cancelled() -> None:
    """Kopf cancels a daemon that outlives its cancellation timeout."""
    stopper, gone = flag(), asyncio.Event()
    before = len(asyncio.all_tasks())
    waiting = asyncio.create_task(stopped_or_gone(stopper.async_waiter, gone))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.sleep(0)
    assert len([t for t in asyncio.all_tasks() if not t.done()]) == before

"""A background task for the life of an ``async with`` block: started, then cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def task(coro: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run ``coro`` while the block runs; cancel it and wait for it when the block ends."""
    running = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

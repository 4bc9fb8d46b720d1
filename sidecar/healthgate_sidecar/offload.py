"""Work that must not run on the event loop: parsing configs, rendering big bodies.

One small pool of our own, apart from asyncio's default executor (which ``getaddrinfo`` uses):
a slow render must never wait behind a hung DNS lookup, nor the other way round. Its threads
still share the GIL with the loop, so what runs here is bounded work, done once and cached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthgate")


async def run(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` in the sidecar's worker pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, functools.partial(func, *args, **kwargs))

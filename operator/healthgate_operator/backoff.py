"""The operator's one retry pacing: 1 s, doubling to a cap, back to 1 s after a success.

Kopf paces its own handler retries; this is for the loops the operator runs itself (publishing
the webhook caBundle, following a watch), so that they back off the same way.
"""

from __future__ import annotations

import asyncio

FIRST_SECONDS = 1.0
MAX_SECONDS = 30.0


class Backoff:
    """``delay`` is the wait the next :meth:`wait` takes (log it before waiting)."""

    def __init__(self, first: float = FIRST_SECONDS, cap: float = MAX_SECONDS) -> None:
        self.first, self.cap = first, cap
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)

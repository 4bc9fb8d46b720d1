"""Status rounds: every interval, one pass over all served gates by a small pool of workers.

Why not a loop per gate: with 1,000 gates that was 1,000 timers firing at spread offsets, so
"how long does a full refresh take" had no answer and could not be bounded; and each loop kept
its own task stack. Here a round refreshes every registered gate with at most ``workers`` at
once, then sleeps until the next tick: the API server sees at most ``workers`` pod LISTs in
flight, and a round's duration is measured (``healthgate_status_round_duration_seconds``).

A gate whose refresh hangs on a frozen sidecar holds one worker for at most the per-pod
timeout; the other workers carry on with the other gates. Which gates are registered is
Kopf's business (a daemon per gate registers its gate while it runs, so a standby replica,
whose daemons Kopf stops, refreshes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)
Refresh = Callable[[], Coroutine[Any, Any, bool]]
"""One gate's refresh; False when the gate is gone (its registration ends)."""


@dataclass
class Entry:
    refresh: Refresh
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The registering daemon's context: Kopf's event posting reads its context variables."""
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a refresh answered False: the registering daemon ends."""


class Rounds:
    """Registered gates by key (uid), refreshed together once per interval."""

    def __init__(self, *, interval: float, workers: int, observe: Callable[[float], None]) -> None:
        self.interval = interval
        self.workers = workers
        self.observe = observe
        self.entries: dict[str, Entry] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def registered(self, key: str, refresh: Refresh) -> Iterator[Entry]:
        """Refresh this gate in every round while the block runs."""
        entry = self.entries[key] = Entry(refresh)
        self._wake.set()  # the first gate after an idle spell need not wait a whole interval
        try:
            yield entry
        finally:
            if self.entries.get(key) is entry:
                del self.entries[key]

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="healthgate status rounds")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.entries:
                self._wake.clear()
                await self._wake.wait()
            started = loop.time()
            await self.round()
            self.observe(loop.time() - started)
            # A round longer than the interval is followed at once by the next (no overlap).
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))

    async def round(self) -> None:
        """Refresh every gate registered now, ``workers`` at a time."""
        pending = iter(list(self.entries.items()))

        async def worker() -> None:
            for key, entry in pending:  # one shared iterator: each gate goes to one worker
                if self.entries.get(key) is not entry:
                    continue  # unregistered meanwhile
                try:
                    alive = await asyncio.create_task(entry.refresh(), context=entry.context)
                except Exception:  # a refresh logs its own errors; this is the last resort
                    logger.exception("Status refresh of %s failed", key)
                    alive = True
                if not alive:
                    entry.gone.set()

        count = min(self.workers, len(self.entries))
        await asyncio.gather(*(worker() for _ in range(count)))

"""The refresh watchdog: how long ago a gate's status was last refreshed, and whether that is stale.

Status refresh loops survive any error (see ``handlers/update_status.py``), but "survives" must
be checkable from outside: an operator whose loops all stopped writing (a bug, a wedged event
loop, an API server that rejects every write) keeps serving the webhook and answering probes.
One rule, read by both the liveness probe (``/healthz``) and the metric
``healthgate_operator_last_refresh_age_seconds``, so alerts and restarts agree.

While no refresh loop runs (no gates; a standby replica whose loops Kopf stopped), the age is 0:
there is nothing to be late for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Stalled(Exception):
    """No gate's status was refreshed (written, or found current) for longer than allowed."""


@dataclass
class Watchdog:
    stale_after: float
    """Seconds without a successful refresh after which the operator counts as stalled."""
    clock: Callable[[], float] = time.monotonic
    """Injected in unit tests; monotonic so that wall-clock jumps never trip the watchdog."""
    loops: int = 0
    """Refresh loops running now."""
    last: float = field(init=False)

    def __post_init__(self) -> None:
        self.last = self.clock()

    def started(self) -> None:
        if self.loops == 0:
            self.last = self.clock()  # idle time before the first gate is not lateness
        self.loops += 1

    def stopped(self) -> None:
        self.loops = max(0, self.loops - 1)

    def refreshed(self) -> None:
        self.last = self.clock()

    def age(self) -> float:
        """Seconds since the last refresh of any gate; 0 when no gate is served."""
        return 0.0 if self.loops == 0 else max(0.0, self.clock() - self.last)

    def check(self) -> float:
        """The age, or :class:`Stalled` when it is over ``stale_after``."""
        age = self.age()
        if age > self.stale_after:
            raise Stalled(
                f"no gate status refreshed for {age:.0f}s (limit {self.stale_after:.0f}s, "
                f"{self.loops} refresh loops)"
            )
        return age

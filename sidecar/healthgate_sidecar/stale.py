"""Staleness: a dependency whose check stopped producing rounds no longer shows its old status.

A check can stop without the engine failing it: a driver that swallows cancellation and hangs
(``/livez`` then reports it stuck, and the kubelet restarts the container after its own
threshold), a scheduler task that died. Until then ``/health`` and ``/readyz`` would show the
last status forever (dropwizard/metrics#1355). A dependency whose last round ended more than
:func:`bound` seconds ago is shown ``unknown`` with reason ``stale`` until a round ends again.

The age runs from the start of the round in flight, else from the end of the last round. A
starved sidecar is not a stale check: rounds skipped as ``overloaded`` count as rounds, and
nothing goes stale while checks queue for the engine's slots or the loop lags (at 1,000
dependencies every 0.2 s a check waits seconds for a slot; that is the sidecar's overload,
reported by ``healthgate_event_loop_lag_seconds`` and the skipped rounds). The time the loop
lost is also taken off the age.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthgate_sidecar.contract import Dependency


SWEEP_SECONDS = 0.5  # how often ages are compared with the bound: 1,000 comparisons are ~0.1 ms
INTERVALS = 3  # rounds a dependency may miss (jitter moves one by at most half an interval)


def bound(dep: Dependency) -> float:
    """Seconds without a finished round after which ``dep`` is stale: 3 intervals + timeout."""
    return INTERVALS * dep.interval_seconds + dep.timeout_seconds


def message(age: float, dep: Dependency) -> str:
    return f"no check finished for {age:.1f}s (stale after {bound(dep):g}s)"

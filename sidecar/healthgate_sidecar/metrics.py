"""Prometheus metrics on an injected registry (a fresh one per test, the default one in serve).

Counters and the histogram are updated as checks finish; gauges of current state are computed
at scrape time from the engine's memory, so a removed dependency's series vanish with it.
:meth:`Metrics.expose` renders in a worker thread (see :mod:`bodies`): the state gauges then
read a snapshot taken on the loop, never the engine's live dictionaries.

The loop never takes a prometheus_client lock: a check's outcome is appended to a queue (an
atomic ``deque.append``) and applied to the counters by whoever collects next, first thing in
the collection. Otherwise every ``inc()`` on the loop would wait for the render thread to hand
back the GIL while it holds the metric's lock, and 300 checks a second stall the loop for most
of each second.
Label values come only from the config (names, types) and bounded sets (statuses, reasons).
No ``_created`` series: Prometheus stores each as one more series (600 at 300 dependencies), it
has ``resets()`` for counters, and they were a tenth of every render's lines.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgate_sidecar import __version__, wire
from healthgate_sidecar.checks.base import REASONS
from healthgate_sidecar.state import STATUSES, Component, Result

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class Snapshot:
    """What the state gauges show; taken from memory at scrape time."""

    components: Sequence[Component]
    ready: bool
    started: bool


class _StateCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot
        self.pinned: Snapshot | None = None  # set while a worker renders

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        snap = self.pinned or self._snapshot()
        up, status, failures = self._families()
        for comp in snap.components:
            critical = "true" if comp.critical else "false"
            up.add_metric([comp.name, comp.type, critical], int(wire.is_up(comp.status)))
            for name in STATUSES:
                status.add_metric([comp.name, name], int(comp.status == name))
            failures.add_metric([comp.name], comp.consecutive_failures)
        yield from (up, status, failures)
        yield GaugeMetricFamily("healthgate_ready", "1 when the app is ready.", int(snap.ready))
        yield GaugeMetricFamily(
            "healthgate_startup_complete", "1 once startup has completed.", int(snap.started)
        )

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "healthgate_dependency_up",
                "1 when the dependency is healthy or degraded, 0 otherwise.",
                labels=["dependency", "type", "critical"],
            ),
            GaugeMetricFamily(
                "healthgate_dependency_status",
                "1 for the dependency's current status, 0 for the others.",
                labels=["dependency", "status"],
            ),
            GaugeMetricFamily(
                "healthgate_dependency_consecutive_failures",
                "Failed checks in a row.",
                labels=["dependency"],
            ),
        )


class _Pending(Collector):
    """Registered first: applies the queued updates before the counters are collected."""

    def __init__(self) -> None:
        self.queue: collections.deque[Callable[[], None]] = collections.deque()

    def collect(self) -> Iterator[Metric]:
        self.apply()
        return iter(())

    def apply(self) -> None:
        while True:
            try:
                update = self.queue.popleft()
            except IndexError:
                return
            update()


class Metrics:
    """The sidecar's collectors, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, snapshot: Callable[[], Snapshot]) -> None:
        # Process-wide; the sidecar owns its process. (Untyped in prometheus_client.)
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self._pending = _Pending()
        registry.register(self._pending)  # before the counters: the registry keeps this order
        self.checks = Counter(
            "healthgate_dependency_checks",
            "Checks run, by result (success, failure, skipped) and reason.",
            ["dependency", "result", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "healthgate_dependency_check_duration_seconds",
            "Duration of checks, failed ones included.",
            ["dependency"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.reload_ok = Gauge(
            "healthgate_config_last_reload_successful",
            "1 when the last config load succeeded, 0 when it was rejected.",
            registry=registry,
        )
        self.reload_time = Gauge(
            "healthgate_config_last_reload_success_timestamp_seconds",
            "Time of the last successful config load.",
            registry=registry,
        )
        info = Gauge("healthgate_build_info", "Sidecar version.", ["version"], registry=registry)
        info.labels(__version__).set(1)
        self.loop_lag = Gauge(
            "healthgate_event_loop_lag_seconds",
            "How late the sidecar's event loop ran a timer (recent maximum): above ~0.1 s the "
            "sidecar itself is starved of CPU, and checks that time out are skipped as overloaded.",
            registry=registry,
        )
        self._registry = registry
        self.changes = 0  # added to the engine's version to key cached expositions
        self._state = _StateCollector(snapshot)
        registry.register(self._state)

    def expose(self, snapshot: Snapshot, accept: str) -> tuple[bytes, str]:
        """(body, content type) of a scrape; safe in a worker thread, one render at a time."""
        encoder, content_type = exposition.choose_encoder(accept)
        self._state.pinned = snapshot
        try:
            return encoder(self._registry), content_type
        finally:
            self._state.pinned = None

    def add(self, name: str) -> None:
        self._pending.queue.append(lambda: self._add(name))

    def observe(self, name: str, result: Result) -> None:
        self._pending.queue.append(lambda: self._observe(name, result))

    def skipped(self, name: str) -> None:
        self._pending.queue.append(lambda: self.checks.labels(name, "skipped", "overloaded").inc())

    def forget(self, name: str) -> None:
        self._pending.queue.append(lambda: self._forget(name))

    def _add(self, name: str) -> None:
        # Present from the start, so that rate() sees the first increment.
        self.checks.labels(name, "success", "ok")
        self.duration.labels(name)

    def _observe(self, name: str, result: Result) -> None:
        outcome = "success" if result.ok else "failure"
        self.checks.labels(name, outcome, result.reason).inc()
        self.duration.labels(name).observe(result.duration)

    def _forget(self, name: str) -> None:
        """Drop a removed dependency's series (a changed one starts counting afresh)."""
        for outcome in ("success", "failure", "skipped"):
            for reason in REASONS:
                with contextlib.suppress(KeyError):
                    self.checks.remove(name, outcome, reason)
        with contextlib.suppress(KeyError):
            self.duration.remove(name)

    def reloaded(self, *, ok: bool, at: float) -> None:
        self.changes += 1  # not a check result, so the engine's version does not move
        self.reload_ok.set(int(ok))
        if ok:
            self.reload_time.set(at)

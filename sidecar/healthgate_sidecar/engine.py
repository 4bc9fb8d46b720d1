"""The scheduler: one task per dependency, jitter, timeouts, results into state, metrics and logs.

Checks only raise or return details; the engine owns everything around them: when they run
(interval with jitter), how long they may take (``asyncio.timeout``), what a failure means
(thresholds, in :mod:`state`), what the world sees (scrubbed, truncated messages) and whether
the sidecar itself is alive (no check stuck past its deadline, no scheduler task dead).

Two things are not the dependency's fault and never fail it: a starved sidecar (a check that
timed out while the event loop lost a good part of its timeout, see :mod:`lag`, is skipped as
``overloaded``; while starved, checks queue for a few slots and run late), and a rotated secret
(a check's client is rebuilt when one of its files changes, and after an ``auth`` failure).
A dependency whose check stops finishing rounds is shown ``unknown``/``stale`` (:mod:`stale`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from healthgate_sidecar import checks, files, logs, lookups, redact, stale, state
from healthgate_sidecar.checks.base import Checker, CheckFailure, file_sources
from healthgate_sidecar.lag import LagMonitor
from healthgate_sidecar.metrics import Metrics, Snapshot

if TYPE_CHECKING:
    from healthgate_sidecar.contract import Dependency, SidecarConfig

MESSAGE_LIMIT = 256
# A check that ignores cancellation for this long past its timeout counts as stuck (-> /livez).
STUCK_GRACE_SECONDS = 1.0
# A timeout is not trusted when the loop ran late for this share of the check's timeout.
STARVED_SHARE = 0.25
SLOTS = 32  # checks in flight while the loop is starved: fewer callbacks per loop turn

CheckerFactory = Callable[["Dependency"], Checker]


@dataclass
class Runner:
    """One dependency's schedule: its config, state, client and task."""

    dep: Dependency
    component: state.Component
    checker: Checker | None = None
    task: asyncio.Task[None] | None = None
    in_flight_since: float | None = field(default=None)  # loop time the running check began
    last_round: float = 0.0  # loop time the last round ended (judged or skipped), or was added
    sources: dict[str, files.Fingerprint | None] = field(default_factory=dict)  # when created
    stopped: bool = False


class Engine:
    """Runs the checks of the current config; everything a probe reads is kept here in memory."""

    def __init__(
        self, *, metrics: Metrics | None = None, create: CheckerFactory = checks.create_checker
    ) -> None:
        self.config: SidecarConfig | None = None
        self.runners: dict[str, Runner] = {}
        self.overall = state.Overall(status="unknown", ready=False)
        self.started = False  # latches: startup never fails again once complete
        self.draining = False
        self.version = 0  # bumped on every change a probe could see: lets handlers cache bodies
        # Bumped when a status, readiness or the set of dependencies may have changed: a cached
        # body may lag behind ``version`` (timings, details) for a few render times, never this.
        self.status_version = 0
        self.metrics = metrics
        self.lag: LagMonitor | None = None  # set by the server; ``check`` runs without one
        # Dependencies the operator found in a shared outage (name -> why), see directives.py:
        # ignored for readiness, still shown unhealthy. Replaced whole, never mutated.
        self.fail_open: dict[str, str] = {}
        self._create = create
        self._slots = asyncio.Semaphore(SLOTS)
        self._sweeper: asyncio.Task[None] | None = None

    # -- what the probes read ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.is_ready()

    def is_ready(self, exclude: Collection[str] = ()) -> bool:
        """The readiness rule, for /readyz, ``?exclude=`` and /health alike: a config loaded,
        not draining, and every critical dependency up, except the ones in a shared outage
        (:attr:`overall`) or, failing that, except the ones in ``exclude``."""
        if self.config is None or self.draining:
            return False
        return self.overall.ready or (
            bool(exclude) and state.aggregate(self.components(), exclude).ready
        )

    def components(self) -> list[state.Component]:
        return [r.component for r in self.runners.values()]

    def snapshot(self) -> Snapshot:
        return Snapshot(components=self.components(), ready=self.ready, started=self.started)

    def liveness_problems(self) -> list[str]:
        """Why the sidecar itself is not working; never about dependency health."""
        now = asyncio.get_running_loop().time()
        problems = []
        for name, runner in self.runners.items():
            since, dep = runner.in_flight_since, runner.dep
            if since is not None and now - since > 2 * dep.timeout_seconds + STUCK_GRACE_SECONDS:
                problems.append(f"check {name} stuck for {now - since:.1f}s")
            if runner.task is not None and runner.task.done():
                problems.append(f"scheduler of {name} stopped")
        return problems

    # -- lifecycle ---------------------------------------------------------------------------

    async def apply(self, config: SidecarConfig) -> None:
        """Start a config, or switch to a new one keeping unchanged dependencies' state."""
        lookups.install()  # before any check resolves a name: no hung lookup starves another
        wanted = {dep.name: dep for dep in config.dependencies}
        changed = [n for n, r in self.runners.items() if wanted.get(n) != r.dep]
        await asyncio.gather(*(self._remove(name) for name in changed))
        self.config = config
        for name, dep in wanted.items():
            if name not in self.runners:
                self._add(dep)
        self._refresh()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="stale-results")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.wait({self._sweeper})
            self._sweeper = None
        await asyncio.gather(*(self._remove(name) for name in list(self.runners)))

    def _add(self, dep: Dependency) -> None:
        runner = Runner(dep=dep, component=state.Component.for_dependency(dep))
        runner.last_round = asyncio.get_running_loop().time()
        self.runners[dep.name] = runner
        if self.metrics is not None:
            self.metrics.add(dep.name)
        runner.task = asyncio.create_task(self._schedule(runner), name=f"check-{dep.name}")

    async def _remove(self, name: str) -> None:
        runner = self.runners.pop(name)
        runner.stopped = True
        task = runner.task
        # A driver may swallow one cancellation (turning it into its own error): insist.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        await _close(runner)
        if self.metrics is not None:
            self.metrics.forget(name)

    # -- running checks -----------------------------------------------------------------------

    def _jitter(self) -> float:
        return self.config.jitter if self.config is not None else 0.0

    async def _schedule(self, runner: Runner) -> None:
        loop = asyncio.get_running_loop()
        interval = runner.dep.interval_seconds
        # A random first offset spreads a thousand pods; per-run jitter keeps them spread.
        await asyncio.sleep(random.uniform(0, self._jitter() * interval))
        while not runner.stopped:
            began = loop.time()
            result = await self.execute(runner)
            if result is None:
                self.skipped(runner)
            else:
                self.record(runner, result)
            runner.last_round = loop.time()
            spread = random.uniform(-1, 1) * self._jitter()
            await asyncio.sleep(max(0.0, interval * (1 + spread) - (loop.time() - began)))

    async def execute(self, runner: Runner) -> state.Result | None:
        """Run one check within its timeout; None if the sidecar was too starved to judge."""
        if self.lag is not None and self.lag.overloaded():
            async with self._slots:  # run late rather than pile more onto a starved loop
                return await self._execute(runner)
        return await self._execute(runner)

    async def _execute(self, runner: Runner) -> state.Result | None:
        dep = runner.dep
        loop = asyncio.get_running_loop()
        if runner.checker is not None and files.changed(runner.sources):
            await _close(runner)  # a rotated secret: rebuild the client with a fresh read
        runner.in_flight_since = began = loop.time()
        failure: CheckFailure | None = None
        try:
            async with asyncio.timeout(dep.timeout_seconds):
                if runner.checker is None:  # retried each run until it works
                    runner.sources = files.fingerprints(file_sources(dep.params))
                    runner.checker = self._create(dep)
                details = await runner.checker.check()
        except TimeoutError:
            if self.lag is not None and self.lag.lost_since(began) >= STARVED_SHARE * (
                dep.timeout_seconds
            ):
                return None
            failure = CheckFailure("timeout", f"no answer within {dep.timeout_seconds:g}s")
        except CheckFailure as exc:
            failure = exc
        except Exception as exc:  # a check bug must become a status, never kill the scheduler
            failure = CheckFailure("error", f"{exc.__class__.__name__}: {exc}")
        finally:
            runner.in_flight_since = None
        duration = loop.time() - began
        if failure is not None:
            if failure.reason == "auth":
                await _close(runner)  # the secret may have rotated: read it afresh next time
            message = redact.clean(failure.message, MESSAGE_LIMIT)
            return state.Result(False, failure.reason, message, duration, time.time())
        return state.Result(True, "ok", _ok_message(dep, duration), duration, time.time(), details)

    def skipped(self, runner: Runner) -> None:
        """A round the starved sidecar could not judge: counted, the status left as it was."""
        if self.metrics is not None and self.runners.get(runner.dep.name) is runner:
            self.metrics.skipped(runner.dep.name)

    def record(self, runner: Runner, result: state.Result) -> None:
        if self.runners.get(runner.dep.name) is not runner:
            return  # removed by a reload while its check ran
        previous = runner.component.record(result)
        if self.metrics is not None:
            self.metrics.observe(runner.dep.name, result)
        if previous is not None:
            logs.transition(runner.component, previous)
        if previous is None and self.started:
            # Same statuses, so the same aggregate: skip the pass over every component, which
            # made 300 results a second cost 90,000 component visits a second.
            self.version += 1
            return
        self._refresh()

    async def _sweep(self) -> None:
        """Every few tenths of a second: show dependencies without recent rounds as stale."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(stale.SWEEP_SECONDS)
            if self._slots.locked() or (self.lag is not None and self.lag.overloaded()):
                continue  # checks queue or the loop lags: late, not stale, and reported so
            now, changed = loop.time(), False
            for runner in self.runners.values():
                age = now - (runner.in_flight_since or runner.last_round)
                if age <= stale.bound(runner.dep) or runner.component.reason == "stale":
                    continue
                if self.lag is not None:  # rare: only past the bound is the lag summed
                    age -= self.lag.lost_since(now - age)
                if age > stale.bound(runner.dep):
                    previous = runner.component.go_stale(stale.message(age, runner.dep))
                    if previous is not None:
                        logs.transition(runner.component, previous)
                    changed = True
            if changed:
                self._refresh()

    def set_fail_open(self, reasons: dict[str, str]) -> None:
        if reasons != self.fail_open:
            self.fail_open = dict(reasons)
            self._refresh()

    def _refresh(self) -> None:
        self.version += 1
        self.status_version += 1
        components = self.components()
        self.overall = state.aggregate(components)
        if self.fail_open:  # the status stays the worst one; only readiness fails open
            ready = state.aggregate(components, self.fail_open).ready
            self.overall = state.Overall(status=self.overall.status, ready=ready)
        if not self.started and self.config is not None and state.startup_complete(components):
            self.started = True
            logs.event("startup complete", dependencies=len(components))

    def begin_drain(self) -> None:
        if not self.draining:
            self.draining = True
            self.version += 1
            self.status_version += 1
            logs.event("draining: readiness is now false", level=logging.WARNING)


def _ok_message(dep: Dependency, duration: float) -> str:
    if state.is_slow(duration, dep.degraded_latency_ms):
        return f"slow: {duration * 1000:.0f} ms > degradedLatencyMs {dep.degraded_latency_ms:g}"
    return "ok"


async def _close(runner: Runner) -> None:
    if runner.checker is not None:
        checker, runner.checker = runner.checker, None
        try:
            await asyncio.wait_for(checker.close(), timeout=5)
        except Exception as exc:  # closing a broken client must not stop a reload
            logs.event("closing a client failed", dependency=runner.dep.name, error=repr(exc))


async def check_once(
    config: SidecarConfig, *, create: CheckerFactory = checks.create_checker
) -> Engine:
    """Run every check once, concurrently (the ``check`` command); returns the settled engine."""
    lookups.install()
    engine = Engine(create=create)
    engine.config = config
    runners = [
        Runner(dep=d, component=state.Component.for_dependency(d)) for d in config.dependencies
    ]
    engine.runners = {r.dep.name: r for r in runners}
    results = await asyncio.gather(*(engine.execute(r) for r in runners))
    for runner, result in zip(runners, results, strict=True):
        assert result is not None  # no lag monitor here: nothing is skipped
        engine.record(runner, result)
        await _close(runner)
    engine._refresh()  # also with no dependencies: ``serve`` and ``check`` must agree
    return engine

"""What the handlers share at run time: settings, the API client, the /health reader, the metrics.

One :class:`Runtime` lives in Kopf's operator-wide ``memo`` (Kopf hands each handler a shallow
copy, so everything in it is shared). :meth:`Runtime.open` runs in the startup handler, inside
the operator's event loop, because aiohttp sessions must be created there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf
from aiohttp import web

from healthgate_operator import directives, kube, metrics, pacing, rounds
from healthgate_operator.builders import injection
from healthgate_operator.config import OperatorConfig
from healthgate_operator.gatecache import ConfigMapCache, GateCache
from healthgate_operator.health_reader import HealthReader
from healthgate_operator.podcache import PodCache
from healthgate_operator.selection import Selection
from healthgate_operator.watchdog import Watchdog

MEMO_KEY = "healthgate"
# Gates refreshed at once in a status round: bounds the pod LISTs in flight; a gate stuck on a
# frozen sidecar holds one worker for at most --health-timeout.
STATUS_WORKERS = 32


T = TypeVar("T")


def _opened(part: T | None) -> T:
    """A part :meth:`Runtime.open` builds; asking before then is a bug in the wiring."""
    if part is None:
        raise RuntimeError("the runtime is not open yet")
    return part


@dataclass
class Runtime:
    config: OperatorConfig
    metrics: metrics.Metrics = field(default_factory=metrics.Metrics)
    _kube: kube.Kube | None = None
    _health_reader: HealthReader | None = None
    _runner: web.AppRunner | None = None
    _gates: GateCache | None = None
    selection: Selection = field(default_factory=Selection)
    """Which gates select which pod labels, for the rounds' conflict reports."""
    restart_refusals: set[tuple[str, str]] = field(default_factory=set)
    """(gate uid, injection hash) already told that workload restarts are forbidden."""
    _configmaps: ConfigMapCache | None = None
    _pods: PodCache | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    watchdog: Watchdog = field(init=False)
    signer: directives.Signer = field(init=False)
    rounds: rounds.Rounds = field(init=False)
    status_writes: pacing.Pacer = field(init=False)

    def __post_init__(self) -> None:
        # Raises DirectiveKeyError (named flag) at start, before anything is served.
        self.signer = directives.Signer.load(
            self.config.directives.key, self.config.directives.trusted_keys
        )
        self.watchdog = Watchdog(stale_after=self.config.status.refresh_stale_after)
        self.metrics.refresh_age.set_function(self.watchdog.age)
        self.status_writes = pacing.Pacer(self.config.status.status_writes_per_second)
        self.rounds = rounds.Rounds(
            interval=self.config.status.interval,
            workers=STATUS_WORKERS,
            observe=self.metrics.round_seconds.observe,
        )

    @property
    def sidecar_defaults(self) -> injection.SidecarDefaults:
        """The ``--sidecar-*`` settings as the injection builder takes them."""
        sidecar = self.config.sidecar
        return injection.SidecarDefaults(
            image=sidecar.image, port=sidecar.port, resources=sidecar.resources
        )

    @property
    def kube(self) -> kube.Kube:
        return _opened(self._kube)

    @property
    def gates(self) -> GateCache:
        return _opened(self._gates)

    @property
    def configmaps(self) -> ConfigMapCache:
        return _opened(self._configmaps)

    @property
    def pods(self) -> PodCache:
        return _opened(self._pods)

    @property
    def health_reader(self) -> HealthReader:
        return _opened(self._health_reader)

    async def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the operator's loop, from whichever loop calls: the API client and
        the caches' events belong to that loop, and admission runs on its own (webhook.py)."""
        loop = _opened(self._loop)
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def open(self) -> None:
        """Listen for /metrics first, then build the clients and caches, each exactly once.

        The port comes first because it is the step that fails for reasons no retry fixes
        (another process has it): Kopf would otherwise retry the startup handler, building
        another API client and gate cache each time. A taken port stops the operator once,
        with the reason.
        """
        self._loop = asyncio.get_running_loop()
        if self._runner is None:
            try:
                self._runner = await metrics.serve(
                    self.metrics,
                    self.config.endpoints.listen_host,
                    self.config.endpoints.metrics_port,
                )
            except OSError as exc:
                where = f"{self.config.endpoints.listen_host}:{self.config.endpoints.metrics_port}"
                raise kopf.PermanentError(
                    f"--metrics-port: cannot listen on {where}: {exc}"
                ) from exc
        if self._kube is None:
            self._kube = await kube.connect()
        if self._gates is None:
            self._gates = GateCache(self._kube, self.config.scope.namespaces)
            self._gates.start()
        if self._configmaps is None:
            self._configmaps = ConfigMapCache(self._kube, self.config.scope.namespaces)
            self._configmaps.start()
        if self._pods is None:  # started by the first status refresh (none on a standby)
            self._pods = PodCache(self._kube, self.config.scope.namespaces)
        if self._health_reader is None:
            self._health_reader = HealthReader(
                timeout=self.config.status.health_timeout,
                concurrency=self.config.status.health_concurrency,
            )
            await self._health_reader.open()
            self.rounds.start()

    async def close(self) -> None:
        await self.rounds.stop()
        for cache in (self._gates, self._configmaps, self._pods):
            if cache is not None:
                await cache.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._health_reader is not None:
            await self._health_reader.close()
        if self._kube is not None:
            await self._kube.close()


def of(memo: Any) -> Runtime:
    """The runtime from a handler's ``memo``."""
    runtime = memo[MEMO_KEY]
    if not isinstance(runtime, Runtime):
        raise TypeError("memo does not hold the HealthGate runtime")
    return runtime

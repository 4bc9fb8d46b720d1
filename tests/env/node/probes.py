"""Startup, liveness and readiness probes, run as the kubelet's prober workers run them.

One :class:`ProbeWorker` task per probe of a running container. Each tick (every
``periodSeconds``) it skips until the container is old enough (``initialDelaySeconds``) and, for
liveness and readiness, until startup succeeded; then it runs the check bounded by
``timeoutSeconds`` and counts consecutive equal results: the reported result flips only after
``failureThreshold`` failures or ``successThreshold`` successes in a row. Initial results are
the kubelet's: readiness starts failed, liveness starts succeeded, startup unknown. A startup or
liveness failure ends the worker (the container is restarted and gets fresh workers).

Checks: ``httpGet`` (2xx/3xx is success; a new connection per probe, like the kubelet's
``DisableKeepAlives``; HTTPS without verification), ``tcpSocket``, and ``exec`` for HealthGate
containers (run as a local process with the container's environment). ``grpc`` is not emulated
and always succeeds, with a warning in the node's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from tests.env.node import api, podspec

log = logging.getLogger("healthgate.node.probes")

Check = Callable[[], Awaitable[bool]]
ExecRunner = Callable[[list[str], float], Awaitable[bool]]
USER_AGENT = "kube-probe/1.35"


async def _http(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], t: float
) -> bool:
    timeout = aiohttp.ClientTimeout(total=t)
    try:
        async with session.get(url, headers=headers, timeout=timeout, ssl=False) as resp:
            await resp.content.read(10 * 1024)  # the kubelet reads at most 10 KiB of the body
            return 200 <= resp.status < 400
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def _tcp(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _always_ok() -> bool:
    return True


def make_check(
    spec: api.Obj,
    container: api.Obj,
    ip: str,
    session: aiohttp.ClientSession,
    run_exec: ExecRunner,
) -> Check:
    """The check a probe spec describes, against the pod IP (see the module doc)."""
    timeout = float(spec.get("timeoutSeconds", 1))
    if "httpGet" in spec:
        get = spec["httpGet"]
        port = podspec.port_number(container, get["port"])
        scheme = str(get.get("scheme", "HTTP")).lower()
        url = f"{scheme}://{get.get('host') or ip}:{port}{get.get('path', '/')}"
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        headers.update({h["name"]: h["value"] for h in get.get("httpHeaders") or []})
        return lambda: _http(session, url, headers, timeout)
    if "tcpSocket" in spec:
        sock = spec["tcpSocket"]
        port = podspec.port_number(container, sock["port"])
        return lambda: _tcp(sock.get("host") or ip, port, timeout)
    if "exec" in spec:
        command = list(spec["exec"].get("command") or [])
        return lambda: run_exec(command, timeout)
    log.warning("container %s: probe type not emulated, counted as success", container["name"])
    return _always_ok


class ProbeWorker:
    """One probe of one container incarnation; ``on_result`` hears each reported flip."""

    INITIAL = {"readiness": False, "liveness": True, "startup": None}

    def __init__(
        self,
        kind: str,
        spec: api.Obj,
        check: Check,
        *,
        gate: Callable[[], bool],
        on_result: Callable[[str, bool], None],
    ) -> None:
        self.kind, self.check, self.gate, self.on_result = kind, check, gate, on_result
        self.period = float(spec.get("periodSeconds", 10))
        self.delay = float(spec.get("initialDelaySeconds", 0))
        self.failures_needed = int(spec.get("failureThreshold", 3))
        self.successes_needed = int(spec.get("successThreshold", 1))
        self.result: bool | None = self.INITIAL[kind]
        self._last: bool | None = None
        self._run = 0
        self._trigger = asyncio.Event()

    def trigger(self) -> None:
        """Probe now rather than at the next tick (readiness right after startup succeeds)."""
        self._trigger.set()

    async def run(self, started_at: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            wait = next_at - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._trigger.wait(), wait)
            self._trigger.clear()
            next_at = max(next_at + self.period, loop.time())
            if not self.gate() or loop.time() - started_at < self.delay:
                continue
            if not await self._probe_once():
                return

    async def _probe_once(self) -> bool:
        """One probe and its bookkeeping; False once this worker has nothing more to do."""
        result = await self.check()
        self._run = self._run + 1 if result == self._last else 1
        self._last = result
        needed = self.successes_needed if result else self.failures_needed
        if self._run < needed or result == self.result:
            return True
        self.result = result
        self.on_result(self.kind, result)
        if self.kind == "startup" and result:
            return False  # the kubelet stops probing startup once it succeeded
        return not (self.kind in ("startup", "liveness") and not result)

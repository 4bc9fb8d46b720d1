"""One container of a pod: a local process (HealthGate programs) or a reported-only stand-in.

A container whose command is a HealthGate program runs as a process in its own process group,
with its output in ``<logs>/<container>/<restartCount>.log`` (the kubelet's
``/var/log/pods`` layout), its probes run by :mod:`probes`, and restarts as its restart policy
says, with the kubelet's back-off (no delay for the first restart, then ``backoff`` seconds
doubling up to 300 s, shown as ``CrashLoopBackOff``). Any other container (an app image) is only
*reported*: running and ready at once, a regular init container completed with exit code 0; its
probes are not executed, since there is no process to probe.

When the node process dies, its children get SIGKILL (``setpriv --pdeathsig``), so a crashed node
leaves no sidecars behind holding pod IPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.env.node import api, events, podspec, probes

log = logging.getLogger("healthgate.node.containers")

MAX_BACKOFF = 300.0
RETRY_SECONDS = 2.0  # a container waiting on a missing Secret or ConfigMap key is retried
SETPRIV = shutil.which("setpriv")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Launch:
    """What the pod resolved for one start: the final argv (program path first) and env."""

    argv: list[str]
    env: dict[str, str]


@dataclass
class PodContext:
    """What a container needs from its pod, without depending on the pod worker."""

    ip: str
    logs: Path
    wake: Callable[[], None]
    prepare: Callable[[api.Obj], Launch]  # raises podspec.Missing
    session: aiohttp.ClientSession
    backoff: float
    grace: float  # the pod's terminationGracePeriodSeconds
    restart_policy: str  # Always | OnFailure | Never: for a sidecar always "Always"
    events: events.Recorder


@dataclass
class Container:
    """State of one container, read by :mod:`status` to write containerStatuses."""

    spec: api.Obj
    init: bool
    pod: PodContext
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    pid: int | None = None
    restart_count: int = 0
    last_state: api.Obj = field(default_factory=dict)
    started: bool = False
    probe_results: dict[str, bool | None] = field(default_factory=dict)
    restart_at: float = 0.0
    container_id: str = ""
    _proc: asyncio.subprocess.Process | None = None
    _readiness: probes.ProbeWorker | None = None
    _probe_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _launches: int = 0
    _stopping: bool = False

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def program(self) -> str | None:
        return podspec.program(self.spec)

    @property
    def ready(self) -> bool:
        if self.state == "terminated":
            return self.init and self.exit_code == 0 and not podspec.is_sidecar(self.spec)
        readiness = self.probe_results.get("readiness", True)
        return self.state == "running" and self.started and bool(readiness)

    @property
    def done(self) -> bool:
        """Terminated for good (a completed init container, a main one under its policy)."""
        return self.state == "terminated" and self.restart_at == 0.0

    async def ensure_started(self) -> None:
        """Start (or restart, once its back-off passed) unless running or done for good."""
        if self.state == "running" or self.done or self._stopping:
            return
        if asyncio.get_running_loop().time() < self.restart_at:
            return
        try:
            # Also for a reported-only container: a missing Secret holds it as it would the
            # real one, so "app ready" never hides a broken reference.
            launch = self.pod.prepare(self.spec)
        except podspec.Missing as exc:
            self._wait("CreateContainerConfigError", str(exc))
            return
        if self.program is None:
            self._report_only()
        else:
            await self._spawn(launch)

    def _report_only(self) -> None:
        self.started_at = self.started_at or now()
        self.container_id = f"local://reported/{self.name}"
        self.reason, self.message = "", ""
        if self.init and not podspec.is_sidecar(self.spec):
            self.state, self.reason = "terminated", "Completed"
            self.exit_code, self.finished_at, self.restart_at = 0, now(), 0.0
        else:
            self.state, self.started = "running", True

    def _wait(self, reason: str, message: str) -> None:
        """Wait and retry later (sooner if what is missing appears: the pod watches it)."""
        if (self.reason, self.message) != (reason, message):
            self.pod.events.emit(self.name, "Failed", f"Error: {message}", warning=True)
        self.state, self.reason, self.message = "waiting", reason, message
        asyncio.get_running_loop().call_later(RETRY_SECONDS, self.pod.wake)

    async def _spawn(self, launch: Launch) -> None:
        if self._launches:
            self.restart_count += 1
        self._launches += 1
        log_path = self.pod.logs / self.name / f"{self.restart_count}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        prefix = [SETPRIV, "--pdeathsig", "KILL", "--"] if SETPRIV else []
        try:
            with log_path.open("ab") as out:
                self._proc = await asyncio.create_subprocess_exec(
                    *prefix,
                    *launch.argv,
                    env=launch.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a process group per container, like a cgroup
                )
        except OSError as exc:  # the runtime's StartError: exit code 128, then back-off
            self.state, self.reason, self.message = "terminated", "StartError", str(exc)
            self.pod.events.emit(self.name, "Failed", f"Error: {exc}", warning=True)
            self.exit_code, self.finished_at = 128, now()
            self._schedule_restart(128)
            self.pod.wake()
            return
        self.pid, self.state, self.reason, self.message = self._proc.pid, "running", "", ""
        self.container_id = f"local://{self.pid}"
        self.started_at, self.restart_at = now(), 0.0
        self.probe_results = {}
        self.started = "startupProbe" not in self.spec
        log.info("started %s pid %s: %s", self.name, self.pid, " ".join(launch.argv))
        self.pod.events.emit(self.name, "Started", f"Started container {self.name}")
        self._start_probes(launch)
        self._detach(self._watch(self._proc))
        self.pod.wake()

    def _start_probes(self, launch: Launch) -> None:
        started_at = asyncio.get_running_loop().time()

        async def run_exec(command: list[str], timeout: float) -> bool:
            return await self._exec(command, launch.env, timeout)

        for kind in ("startup", "liveness", "readiness"):
            spec = self.spec.get(f"{kind}Probe")
            if not spec:
                continue
            check = probes.make_check(spec, self.spec, self.pod.ip, self.pod.session, run_exec)
            gate = (lambda: not self.started) if kind == "startup" else (lambda: self.started)
            worker = probes.ProbeWorker(kind, spec, check, gate=gate, on_result=self._on_probe)
            self.probe_results[kind] = worker.result
            self._probe_tasks.append(asyncio.create_task(worker.run(started_at)))
            if kind == "readiness":
                self._readiness = worker

    def _on_probe(self, kind: str, result: bool) -> None:
        self.probe_results[kind] = result
        log.info("%s probe of %s (pid %s): %s", kind, self.name, self.pid, result)
        if not result:
            text = f"{kind.capitalize()} probe failed"
            self.pod.events.emit(self.name, "Unhealthy", text, warning=True)
        if kind == "startup" and result:
            self.started = True
            if self._readiness is not None:
                self._readiness.trigger()  # the kubelet probes readiness right after startup
        elif kind in ("startup", "liveness") and not result:
            self.message = f"Container {self.name} failed {kind} probe, will be restarted"
            self.pod.events.emit(self.name, "Killing", self.message)
            self._detach(self.kill(self._grace(kind), restart=True))
        self.pod.wake()

    def _grace(self, kind: str) -> float:
        """The probe's own terminationGracePeriodSeconds, else the pod's; at most 5 s."""
        probe_grace = self.spec[f"{kind}Probe"].get("terminationGracePeriodSeconds")
        return min(float(probe_grace if probe_grace is not None else self.pod.grace), 5.0)

    async def _exec(self, command: list[str], env: dict[str, str], timeout: float) -> bool:
        words = self.pod.prepare({**self.spec, "command": command, "args": []}).argv
        proc = await asyncio.create_subprocess_exec(
            *words, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            return await asyncio.wait_for(proc.wait(), timeout) == 0
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return False

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        code = 128 - code if code < 0 else code  # killed by signal N: 128+N, as runtimes say
        self._cancel_probes()
        self.state, self.exit_code, self.finished_at = "terminated", code, now()
        self.reason = "Completed" if code == 0 else "Error"
        self.pid, self.started = None, False
        self.last_state = {
            "terminated": {
                "exitCode": code,
                "reason": self.reason,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "containerID": f"local://{proc.pid}",
            }
        }
        log.info("%s (pid %s) exited with %s", self.name, proc.pid, code)
        self._schedule_restart(code)
        self.pod.wake()

    def _schedule_restart(self, code: int) -> None:
        policy = "Always" if podspec.is_sidecar(self.spec) else self.pod.restart_policy
        if self.init and policy == "Always" and not podspec.is_sidecar(self.spec):
            policy = "OnFailure"  # a regular init container that succeeded is done for good
        if self._stopping or policy == "Never" or (policy == "OnFailure" and code == 0):
            self.restart_at = 0.0  # done for good
            return
        failures = self._launches - 1
        delay = 0.0 if failures == 0 else min(self.pod.backoff * 2 ** (failures - 1), MAX_BACKOFF)
        loop = asyncio.get_running_loop()
        self.restart_at = loop.time() + max(delay, 0.001)
        if delay > 0:
            self.state, self.reason = "waiting", "CrashLoopBackOff"
            self.message = f"back-off {delay:.0f}s restarting failed container={self.name}"
            self.pod.events.emit(self.name, "BackOff", self.message, warning=True)
        loop.call_later(delay + 0.01, self.pod.wake)

    def _detach(self, work: Coroutine[Any, Any, None]) -> None:
        """Run in the background, keeping a reference so the task is not collected midway."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _cancel_probes(self) -> None:
        current = asyncio.current_task()
        for task in self._probe_tasks:
            if task is not current:
                task.cancel()  # the probe calling this (a liveness kill) ends by itself
        self._probe_tasks.clear()
        self._readiness = None

    async def kill(self, grace: float, *, restart: bool = False) -> None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds; no restart unless asked."""
        self._stopping = self._stopping or not restart
        proc = self._proc
        if proc is None or proc.returncode is not None:
            self._cancel_probes()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await asyncio.sleep(0)  # let _watch record the exit before the caller reads the state

"""Hot reload: poll the config file and apply a changed, valid config without a restart.

Polling ``stat`` of the resolved path catches every way a file changes: rewritten in place,
replaced by a rename, or swapped by Kubernetes through the ``..data`` symlink of a ConfigMap
volume (the real path changes). An invalid new config is rejected: the last good one stays in
force, the problems are logged and ``healthgate_config_last_reload_successful`` drops to 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from healthgate_sidecar import contract, logs, redact
from healthgate_sidecar.contract import ConfigError, SidecarConfig
from healthgate_sidecar.metrics import Metrics


def now() -> float:
    return time.time()


def read_token(path: str | None) -> str | None:
    """The bearer token for /health details; None (details refused) if unreadable."""
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        logs.event("cannot read authTokenFile", level=logging.ERROR, path=path, error=repr(exc))
        return None
    if token:
        redact.register_secret(token)
    return token or None


class TokenFile:
    """The bearer token file, re-read only when it changes (Secret rotation, new config)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.token: str | None = None
        self._fingerprint: Fingerprint | None = None
        self._missing = False

    def use(self, path: str | None) -> None:
        if path != self.path:
            self.path, self.token, self._fingerprint, self._missing = path, None, None, False
        self.refresh()

    def refresh(self) -> None:
        if self.path is None:
            return
        found = fingerprint(Path(self.path))
        if (found is not None and found == self._fingerprint) or (found is None and self._missing):
            return  # unchanged, or still missing (already logged)
        self._fingerprint, self._missing = found, found is None
        self.token = read_token(self.path)


@dataclass(frozen=True)
class Fingerprint:
    """Identity and version of the file behind a path (after following symlinks)."""

    real_path: str
    device: int
    inode: int
    size: int
    mtime_ns: int


def fingerprint(path: Path) -> Fingerprint | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return Fingerprint(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Reloader:
    """Watches one config file; calls ``on_config`` with each new valid config."""

    def __init__(
        self,
        path: Path,
        *,
        current: SidecarConfig,
        on_config: Callable[[SidecarConfig], Awaitable[None]],
        metrics: Metrics | None,
        interval: Callable[[], float],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._current = current
        self._on_config = on_config
        self._metrics = metrics
        self._interval = interval
        self._on_tick = on_tick
        # Unknown at first: the first poll reads the file and finds it equal to ``current``.
        self._fingerprint: Fingerprint | None = None
        self._digest: str | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run(), name="config-reloader")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            try:
                await self.poll()
            except Exception:  # a reload bug must not stop future reloads
                logs.log.exception("config reload failed")

    async def poll(self) -> None:
        """Look once; apply the file if it changed and is valid."""
        if self._on_tick is not None:
            self._on_tick()
        found = fingerprint(self.path)
        if found == self._fingerprint:
            return
        self._fingerprint = found
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._digest = None  # re-evaluate when the file comes back, even unchanged
            self._reject([f"<file>: cannot read {self.path}: {exc.__class__.__name__}"])
            return
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._digest:
            return  # touched, or the same bytes behind a new symlink
        self._digest = digest
        try:
            config = contract.parse_text(text)
        except ConfigError as exc:
            self._reject(exc.problems)
            return
        if config != self._current:
            await self._on_config(config)
            self._current = config
            logs.event(
                "config reloaded", path=str(self.path), dependencies=len(config.dependencies)
            )
        if self._metrics is not None:
            self._metrics.reloaded(ok=True, at=now())

    def _reject(self, problems: list[str]) -> None:
        logs.event(
            "config rejected, keeping the last good one",
            level=logging.ERROR,
            path=str(self.path),
            problems=problems,
        )
        if self._metrics is not None:
            self._metrics.reloaded(ok=False, at=now())

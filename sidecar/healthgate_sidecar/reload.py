"""Hot reload: poll the config file and apply a changed, valid config without a restart.

Polling ``stat`` of the resolved path catches every way a file changes: rewritten in place,
replaced by a rename, or swapped by Kubernetes through the ``..data`` symlink of a ConfigMap
volume (the real path changes). An invalid new config is rejected: the last good one stays in
force, the problems are logged and ``healthgate_config_last_reload_successful`` drops to 0. A
rejected file is tried again on every poll (a file made unreadable and then readable again is
picked up without being touched); its problems are logged again only when they change.

Reading and parsing run in :mod:`offload`'s worker, never on the loop: only regular files are
read (:mod:`files`), so a FIFO or ``/dev/zero`` in place of the config is a rejected reload.
A serving sidecar validates in a short-lived child process (:mod:`validation`): only bytes it has
not validated yet go there; the same rejected bytes get their problems again without a child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from healthgate_sidecar import background, files, logs, offload, redact, validation
from healthgate_sidecar.metrics import Metrics
from healthgate_sidecar.validation import ConfigError

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig


def now() -> float:
    return time.time()


def read_token(path: str | None) -> str | None:
    """The bearer token for /health details; None (details refused) if unreadable."""
    if path is None:
        return None
    try:
        token = files.read_text(path, limit=files.SECRET_LIMIT).strip()
    except files.FileError as exc:
        logs.event("cannot read authTokenFile", level=logging.ERROR, path=path, error=str(exc))
        return None
    if token:
        redact.register_secret(token)
    return token or None


class TokenFile:
    """The bearer token file, re-read only when it changes (Secret rotation, new config)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.token: str | None = None
        self._fingerprint: files.Fingerprint | None = None
        self._missing = False

    def use(self, path: str | None) -> None:
        if path != self.path:
            self.path, self.token, self._fingerprint, self._missing = path, None, None, False
        self.refresh()

    def refresh(self) -> None:
        if self.path is None:
            return
        found = files.fingerprint(Path(self.path))
        if (found is not None and found == self._fingerprint) or (found is None and self._missing):
            return  # unchanged, or still missing (already logged)
        self._fingerprint, self._missing = found, found is None
        self.token = read_token(self.path)


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
        digest: str | None = None,
    ) -> None:
        self.path = path
        self._current = current
        self._on_config = on_config
        self._metrics = metrics
        self._interval = interval
        self._on_tick = on_tick
        # Unknown at first: the first poll reads the file and finds it equal to ``current``
        # (without validating it again when ``digest``, of the bytes ``current`` came from, is).
        self._fingerprint: files.Fingerprint | None = None
        self._digest = digest
        self._problems: list[str] | None = None  # of the last rejected attempt; None if applied
        self._rejected: tuple[str, list[str]] | None = None  # digest, problems: validated once
        self._wake = asyncio.Event()

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        return background.task(self._run(), name="config-reloader")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval()):
                    await self._wake.wait()
            if self._wake.is_set():
                self._wake.clear()
                self._fingerprint = None  # asked for: read the file even if its stat is unchanged
                logs.event("config reload requested", path=str(self.path))
            try:
                await self.poll()
            except Exception:  # a reload bug must not stop future reloads
                logs.log.exception("config reload failed")

    def request(self) -> None:
        """Reload now (SIGHUP), as Prometheus and blackbox_exporter do."""
        self._wake.set()

    async def poll(self) -> None:
        """Look once; apply the file if it changed and is valid (retry it if it was rejected)."""
        if self._on_tick is not None:
            self._on_tick()
        found = files.fingerprint(self.path)  # a stat: quick, and it never blocks on a FIFO
        if found == self._fingerprint and self._problems is None:
            return
        self._fingerprint = found
        try:
            digest, config = await offload.run(
                _load, self.path, known=self._digest, rejected=self._rejected
            )
        except _Rejected as exc:
            self._rejected = (exc.digest, exc.problems)
            self._reject(exc.problems)
            return
        except ConfigError as exc:
            self._reject(exc.problems)
            return
        self._problems = None
        if config is not None and config != self._current:
            await self._on_config(config)
            self._current = config
            logs.event(
                "config reloaded", path=str(self.path), dependencies=len(config.dependencies)
            )
        self._digest = digest
        if self._metrics is not None:
            self._metrics.reloaded(ok=True, at=now())

    def _reject(self, problems: list[str]) -> None:
        if problems != self._problems:  # retried every poll: say it once, not once a second
            logs.event(
                "config rejected, keeping the last good one",
                level=logging.ERROR,
                path=str(self.path),
                problems=problems,
            )
        self._problems = problems
        if self._metrics is not None:
            self._metrics.reloaded(ok=False, at=now())


class _Rejected(ConfigError):
    """Bytes that were read and validated, and found invalid."""

    def __init__(self, digest: str, problems: list[str]) -> None:
        super().__init__(problems)
        self.digest = digest


def _load(
    path: Path, *, known: str | None, rejected: tuple[str, list[str]] | None
) -> tuple[str, SidecarConfig | None]:
    """(digest, config) of the file; config None when its bytes are ``known`` already."""
    digest, data = validation.read(path)
    if digest == known:
        return digest, None  # touched, or the same bytes behind a new symlink
    if rejected is not None and digest == rejected[0]:
        raise _Rejected(digest, rejected[1])  # validation is a function of the bytes
    try:
        return digest, validation.parse(data, path)
    except ConfigError as exc:
        raise _Rejected(digest, exc.problems) from None

"""Kopf's webhook server on a thread of its own, with its own event loop.

Why: on the operator's loop, an admission review waits behind whatever that loop is doing. The
status rounds decode pod lists and exchange with every sidecar in turns of several milliseconds,
so under a burst of pod creations reviews queued for hundreds of milliseconds while deciding
took a few (issue 16). Here the server, its TLS and the injection decision run on this thread's
loop; the operator's loop only shares the GIL with it, and the switch interval below bounds how
long a thread that wants the GIL waits for one that holds it while running Python code.

What runs where: the reviews named in ``local`` (the pod injection: it reads only the gate
cache, safe from any thread) are answered here; every other review (the HealthGate validation,
which calls the API server) is handed to the operator's loop, where its API client lives.
Kopf's own server is reused unchanged (its TLS setup, routing, error answers, and its restart
when the certificate files change), so the answers are the same as on the operator's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
from collections.abc import AsyncGenerator, Collection
from typing import Any

import kopf

# The GIL switch interval (CPython's default is 5 ms): how long the admission thread waits, at
# most, for the operator's thread to let go of the GIL between two bytecodes. A review needs the
# GIL back after each system call (the socket read, TLS, the write), so this bounds its queueing.
SWITCH_INTERVAL = 0.001
STOP_SECONDS = 5.0


class AdmissionThread:
    """Serves ``server`` from a daemon thread; :meth:`configs` yields what the server yields."""

    def __init__(self, server: kopf.WebhookServer, *, local: Collection[str]) -> None:
        self.server = server
        self.local = frozenset(local)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    async def configs(self, fn: kopf.WebhookFn) -> AsyncGenerator[kopf.WebhookClientConfig, None]:
        """Start the thread and yield the server's client configs on the calling loop; stop the
        thread when the caller stops iterating. An error of the server is raised here."""
        main = asyncio.get_running_loop()
        handed: asyncio.Queue[kopf.WebhookClientConfig | BaseException] = asyncio.Queue()

        def hand_over(item: kopf.WebhookClientConfig | BaseException) -> None:
            main.call_soon_threadsafe(handed.put_nowait, item)

        serve = self._router(fn, main)
        # A copy of the caller's context: Kopf's context variables (settings, logging) hold there.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._main, serve, hand_over),
            name="healthgate-admission",
            daemon=True,
        )
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()
        try:
            while True:
                item = await handed.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.stop()

    def _router(self, fn: kopf.WebhookFn, main: asyncio.AbstractEventLoop) -> kopf.WebhookFn:
        local = self.local

        async def route(request: Any, *, webhook: str | None = None, **kwargs: Any) -> Any:
            async def call() -> Any:
                return await fn(request, webhook=webhook, **kwargs)

            if webhook in local:
                return await call()
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), main))

        return route

    def _main(self, serve: kopf.WebhookFn, hand_over: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # stopped by :meth:`stop`
            asyncio.run(self._serve(serve, hand_over))

    async def _serve(self, serve: kopf.WebhookFn, hand_over: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._ready.set()
        try:
            async for config in self.server(serve):
                hand_over(config)
        except Exception as exc:  # raised on the operator's loop instead
            hand_over(exc)

    async def stop(self) -> None:
        """Cancel the server (Kopf's cleanup closes the listening socket) and join the thread."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        await asyncio.to_thread(self._ready.wait, STOP_SECONDS)
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # its loop already closed: it has ended
                self._loop.call_soon_threadsafe(self._task.cancel)
        await asyncio.to_thread(thread.join, STOP_SECONDS)

"""admission_thread: which review runs on which loop, errors, stopping; with a fake server."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.web_protocol import RequestHandler

from healthgate_operator.admission_thread import AdmissionThread

CONFIG = {"url": "https://127.0.0.1:9443"}


class FakeServer:
    """Kopf's server contract: called with the review function, yields client configs. This one
    sends each review in ``reviews`` through the function first, or raises ``error``."""

    def __init__(self, reviews: list[str], error: Exception | None = None) -> None:
        self.reviews = reviews
        self.error = error
        self.answers: list[Any] = []
        self.thread: threading.Thread | None = None
        self.cleaned_up = threading.Event()

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        self.thread = threading.current_thread()
        if self.error is not None:
            raise self.error
        try:
            for hook in self.reviews:
                self.answers.append(await fn({"request": {}}, webhook=hook))
            yield dict(CONFIG)
            await asyncio.Event().wait()
        finally:
            self.cleaned_up.set()


async def test_local_reviews_run_on_the_thread_the_others_on_the_callers_loop() -> None:
    async def review(request: Any, *, webhook: str | None = None, **_: Any) -> Any:
        return {"webhook": webhook, "thread": threading.current_thread().name}

    server = FakeServer(["inject-sidecar", "validate-gate"])
    configs = AdmissionThread(server, local=["inject-sidecar"]).configs(review)  # type: ignore[arg-type]
    assert await anext(configs) == CONFIG
    await configs.aclose()
    assert server.answers == [
        {"webhook": "inject-sidecar", "thread": "healthgate-admission"},
        {"webhook": "validate-gate", "thread": threading.current_thread().name},
    ]


async def test_stopping_iteration_stops_the_server_and_its_thread() -> None:
    server = FakeServer([])
    configs = AdmissionThread(server, local=[]).configs(None)  # type: ignore[arg-type]
    assert await anext(configs) == CONFIG
    await configs.aclose()
    assert server.cleaned_up.is_set()
    assert server.thread is not None
    assert not server.thread.is_alive()


async def test_a_server_error_is_raised_to_the_caller() -> None:
    server = FakeServer([], error=OSError("address already in use"))
    configs = AdmissionThread(server, local=[]).configs(None)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="address already in use"):
        await anext(configs)


def test_the_webhook_server_outlasts_the_api_servers_idle_connections() -> None:
    """The API server's webhook client (Go's http.Transport) drops an idle connection after 90 s
    and does not resend a POST written on one the server has just closed. Kopf's server takes
    aiohttp's idle timeout, so it must be longer: then the client always closes first, and no
    review is lost to the race (a lost review under ``Ignore`` is a pod without its sidecar).
    aiohttp before 3.11 closed after 75 s; pyproject.toml requires a later one."""
    default = inspect.signature(RequestHandler.__init__).parameters["keepalive_timeout"].default
    assert default > 90

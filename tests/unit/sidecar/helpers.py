"""Scripted checkers for engine and server unit tests (no network: the checks are coroutines)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from healthgate_sidecar.checks.base import Checker, CheckFailure, Details
from healthgate_sidecar.contract import Dependency, SidecarConfig, parse_config

Behaviour = Callable[[], Awaitable[Details]]


async def healthy() -> Details:
    return {"answer": 42}


async def refused() -> Details:
    raise CheckFailure("connect", "connection refused")


async def hangs() -> Details:
    await asyncio.sleep(3600)
    return {}


def slow(seconds: float) -> Behaviour:
    async def check() -> Details:
        await asyncio.sleep(seconds)
        return {}

    return check


def dependency(name: str = "a", **fields: Any) -> dict[str, Any]:
    """A dependency dict with fast test timings; ``type: env`` so the contract is satisfied."""
    return {
        "name": name,
        "type": "env",
        "env": {"names": ["HOME"]},
        "intervalSeconds": 0.1,
        "timeoutSeconds": 0.05,
        **fields,
    }


def config(*deps: dict[str, Any], **settings: Any) -> SidecarConfig:
    return parse_config({"dependencies": list(deps), "jitter": 0, **settings})


class Script:
    """A checker factory whose checks do what the test says, switchable at any time."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = dict(behaviours)
        self.created: list[str] = []
        self.closed: list[str] = []
        self.calls: dict[str, list[float]] = {}

    def __call__(self, dep: Dependency) -> Checker:
        self.created.append(dep.name)

        async def check() -> Details:
            self.calls.setdefault(dep.name, []).append(time.monotonic())
            return await self.behaviours.get(dep.name, healthy)()

        async def close() -> None:
            self.closed.append(dep.name)

        return Checker(check=check, close=close)


async def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> float:
    """Poll until ``predicate()``; return the seconds it took (fail after ``timeout``)."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - began

"""gatecache: list + watch into memory, without a cluster (a scripted fake API)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from healthgate_operator.gatecache import GateCache, slim
from healthgate_operator.kube import KubeError
from tests.unit.operator.conftest import make_gate

Json = dict[str, Any]


class FakeKube:
    """LIST answers from ``items``; each watch replays one script of events, then blocks."""

    def __init__(self, items: list[Json], scripts: list[list[Json | Exception]]) -> None:
        self.items = items
        self.scripts = scripts
        self.lists = 0
        self.release = asyncio.Event()  # watches replay their script once this is set
        self.release.set()

    async def request(self, method: str, path: str, **_: Any) -> Json:
        self.lists += 1
        return {"metadata": {"resourceVersion": "10"}, "items": self.items}

    async def list_gates(self, namespace: str) -> list[Json]:
        return [g for g in self.items if g["metadata"]["namespace"] == namespace]

    async def stream(self, path: str, query: Any, *, read_timeout: float) -> AsyncIterator[Json]:
        script = self.scripts.pop(0) if self.scripts else []
        await self.release.wait()
        for event in script:
            if isinstance(event, Exception):
                raise event
            yield event
        await asyncio.Event().wait()


def event(kind: str, gate: Json, version: str = "11") -> Json:
    gate["metadata"]["resourceVersion"] = version
    return {"type": kind, "object": gate}


async def settle(cache: GateCache) -> None:
    await asyncio.wait_for(cache.synced.wait(), 2)
    for _ in range(20):
        await asyncio.sleep(0)


async def test_list_then_watch_events() -> None:
    fake = FakeKube(
        [make_gate("a")],
        [[event("ADDED", make_gate("b")), event("DELETED", make_gate("a"), "12")]],
    )
    cache = GateCache(fake)  # type: ignore[arg-type]
    cache.start()
    try:
        await settle(cache)
        assert [g["metadata"]["name"] for g in cache.gates("tta")] == ["b"]
        assert cache.gates("elsewhere") == []
    finally:
        await cache.stop()


async def test_a_view_taken_is_never_changed_by_later_events() -> None:
    """Admission reads the cache from its own thread (webhook.py): a namespace's mapping, once
    handed out, must stay as it was while the loop's thread applies events (copy on write)."""
    fake = FakeKube(
        [make_gate("a")],
        [[event("ADDED", make_gate("b")), event("DELETED", make_gate("a"), "12")]],
    )
    fake.release.clear()
    cache = GateCache(fake)  # type: ignore[arg-type]
    cache.start()
    try:
        await asyncio.wait_for(cache.synced.wait(), 2)
        before = cache.view("tta")
        assert list(before) == ["a"]
        fake.release.set()
        await settle(cache)
        assert list(before) == ["a"]
        assert list(cache.view("tta")) == ["b"]
    finally:
        await cache.stop()


def test_cached_is_none_until_the_first_sync() -> None:
    cache = GateCache(FakeKube([make_gate("a")], []))  # type: ignore[arg-type]
    assert cache.cached("tta") is None
    cache.synced.set()
    assert cache.cached("tta") == []


async def test_watch_error_relists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("healthgate_operator.gatecache.asyncio.sleep", _no_sleep)
    fake = FakeKube([make_gate("a")], [[KubeError(410, "too old")], []])
    cache = GateCache(fake)  # type: ignore[arg-type]
    cache.start()
    try:
        await settle(cache)
        for _ in range(50):
            if fake.lists >= 2:
                break
            await _real_sleep(0.01)
        assert fake.lists >= 2
        assert [g["metadata"]["name"] for g in cache.gates("tta")] == ["a"]
    finally:
        await cache.stop()


_real_sleep = asyncio.sleep


async def _no_sleep(_: float) -> None:
    await _real_sleep(0)


async def test_snapshot_lists_directly_before_the_first_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("healthgate_operator.gatecache.SYNC_WAIT_SECONDS", 0.01)
    fake = FakeKube([make_gate("a")], [])
    cache = GateCache(fake)  # type: ignore[arg-type]  # never started: never synced
    assert [g["metadata"]["name"] for g in await cache.snapshot("tta")] == ["a"]


def test_slim_keeps_what_admission_reads() -> None:
    gate = make_gate("a")
    gate["metadata"]["managedFields"] = [{"big": "x" * 1000}]
    out = slim(gate)
    assert out["metadata"] == {
        "name": "a",
        "namespace": "tta",
        "uid": "uid-a",
        "deletionTimestamp": None,
    }
    assert out["spec"] == gate["spec"]


def test_kube_error_temporary() -> None:
    assert KubeError(503, "x").temporary
    assert KubeError(0, "x").temporary
    assert not KubeError(403, "x").temporary

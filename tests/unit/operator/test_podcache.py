"""podcache: slim pods that read like full ones, label-indexed selection, paged list + watch."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from healthgate_operator.builders import injection
from healthgate_operator.builders import status as status_builder
from healthgate_operator.handlers import restart_workloads, update_status
from healthgate_operator.kube import KubeError
from healthgate_operator.podcache import PodCache, slim
from tests.unit.operator import conftest
from tests.unit.operator.conftest import make_pod

Json = dict[str, Any]
SELECTOR = {"matchLabels": {"app": "tta-api"}}


def injected_pod() -> Json:
    pod: Json = copy.deepcopy(conftest.injected_pod())
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "x" * 4000
    pod["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "rs", "controller": True},
        {"kind": "Other", "name": "o"},
    ]
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.0.0.9",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized"}],
        "containerStatuses": [
            {"state": {"waiting": {"reason": "CreateContainerConfigError", "message": "no"}}},
            {"state": {"running": {}}},
        ],
    }
    return pod


def test_slim_reads_like_the_full_pod() -> None:
    """Every reader of the status round answers the same on the slim pod as on the full one."""
    full = injected_pod()
    out = slim(full)
    for gate in ("tta-api", "other"):
        assert injection.injected_by(out, gate) == injection.injected_by(full, gate)
    assert injection.injected_by(out, "tta-api")
    assert injection.pod_sidecar_port(out) == injection.pod_sidecar_port(full)
    assert update_status.is_ready(out)
    assert update_status.live_pods([out]) == [out]
    assert status_builder.cannot_start(out) == status_builder.cannot_start(full)
    assert restart_workloads.controller_of(out) == restart_workloads.controller_of(full)
    assert injection.has_sidecar(out)
    assert out["metadata"]["labels"] == full["metadata"]["labels"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in out["metadata"]["annotations"]
    assert len(repr(out)) < len(repr(full)) // 3


def test_slim_keeps_a_forgery_a_forgery() -> None:
    forged = injected_pod()
    forged["spec"]["volumes"] = [{"name": "healthgate-config", "configMap": {"name": "mine"}}]
    assert not injection.injected_by(slim(forged), "tta-api")
    opted_out = injected_pod()
    opted_out["metadata"]["annotations"]["healthgate.io/inject"] = "false"
    assert not injection.injected_by(slim(opted_out), "tta-api")


def pod(name: str, version: str = "1", **labels: str) -> Json:
    out = make_pod(name, labels=labels or {"app": "tta-api"})
    out["metadata"]["resourceVersion"] = version
    return out


class FakeKube:
    """A paged LIST (two pages, a continue token), then one scripted watch, then silence."""

    def __init__(self, items: list[Json], script: list[Json]) -> None:
        self.items, self.script = items, script
        self.queries: list[dict[str, str]] = []
        self.lists: list[str] = []

    async def request(self, method: str, path: str, *, query: Any = (), **_: Any) -> Json:
        self.queries.append(dict(query))
        if dict(query).get("continue"):
            return {"metadata": {"resourceVersion": "10"}, "items": self.items[1:]}
        return {"metadata": {"resourceVersion": "10", "continue": "t"}, "items": self.items[:1]}

    async def list_pods(self, namespace: str, selector: str) -> list[Json]:
        self.lists.append(selector)
        return self.items

    async def stream(self, path: str, query: Any, *, read_timeout: float) -> AsyncIterator[Json]:
        script, self.script = self.script, []
        for event in script:
            yield event
        await asyncio.Event().wait()


async def settled(cache: PodCache) -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def names(pods: list[Json]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


async def test_select_follows_the_list_and_the_watch() -> None:
    moved = pod("b", "12", app="elsewhere")
    fake = FakeKube(
        [pod("a"), pod("b"), pod("c", app="other")],
        [
            {"type": "ADDED", "object": pod("d", "11")},
            {"type": "MODIFIED", "object": moved},
            {"type": "DELETED", "object": pod("a", "13")},
        ],
    )
    cache = PodCache(fake)  # type: ignore[arg-type]
    try:
        assert names(await cache.select("tta", SELECTOR)) in (["a", "b"], ["d"])
        await settled(cache)
        assert names(await cache.select("tta", SELECTOR)) == ["d"]
        assert names(await cache.select("tta", {"matchLabels": {"app": "elsewhere"}})) == ["b"]
        both = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["other"]}]}
        assert names(await cache.select("tta", both)) == ["c"]
        assert await cache.select("other-namespace", SELECTOR) == []
        assert await cache.select("tta", {}) == []  # selects nothing, never everything
        assert fake.lists == []  # synced: no LIST per gate
        assert [q.get("continue") for q in fake.queries] == [None, "t"]  # one list, two pages
    finally:
        await cache.stop()


async def test_select_lists_until_the_first_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("healthgate_operator.podcache.SYNC_WAIT_SECONDS", 0.01)
    fake = FakeKube([pod("a")], [])

    async def never(*_: Any, **__: Any) -> Json:
        await asyncio.Event().wait()
        raise AssertionError

    fake.request = never  # type: ignore[method-assign]
    cache = PodCache(fake)  # type: ignore[arg-type]
    try:
        assert names(await cache.select("tta", SELECTOR)) == ["a"]
        assert fake.lists == ["app=tta-api"]
    finally:
        await cache.stop()


async def test_select_lists_while_the_watch_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a watch fails (API outage), cached pods are stale: a refresh LISTs (and fails
    with the API server) instead of calling the status current from the cache."""
    monkeypatch.setattr("healthgate_operator.gatecache.Backoff.wait", _forever)
    fake = FakeKube([pod("a")], [])

    async def broken(*_: Any, **__: Any) -> AsyncIterator[Json]:
        raise KubeError(0, "watch interrupted")
        yield {}

    fake.stream = broken  # type: ignore[method-assign]
    cache = PodCache(fake)  # type: ignore[arg-type]
    try:
        await cache.select("tta", SELECTOR)
        await settled(cache)
        assert cache.synced.is_set()
        assert not cache.current()
        assert names(await cache.select("tta", SELECTOR)) == ["a"]
        assert fake.lists == ["app=tta-api", "app=tta-api"]
    finally:
        await cache.stop()


async def _forever(*_: Any) -> None:
    await asyncio.Event().wait()


async def test_no_watch_permission_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """An RBAC from before the cache (list, no watch): one LIST, then LISTs per gate as before,
    never a LIST of every pod per retry."""
    monkeypatch.setattr("healthgate_operator.gatecache.Backoff.wait", _at_once)
    fake = FakeKube([pod("a")], [])

    async def refused(*_: Any, **__: Any) -> AsyncIterator[Json]:
        raise KubeError(403, "pods is forbidden: cannot watch")
        yield {}

    fake.stream = refused  # type: ignore[method-assign]
    cache = PodCache(fake)  # type: ignore[arg-type]
    try:
        assert names(await cache.select("tta", SELECTOR)) == ["a"]
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert not cache.current()
        assert names(await cache.select("tta", SELECTOR)) == ["a"]
        assert len(fake.queries) == 2  # the first LIST's two pages, never again
    finally:
        await cache.stop()


async def _at_once(*_: Any) -> None:
    await asyncio.sleep(0)

"""The operator's pod LIST comes in pages (so decoding a big one never holds the event loop the
webhook answers on), and the pages add up to every selected pod: on the real API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from healthgate_operator import kube as kube_client
from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube

pytestmark = pytest.mark.integration


async def test_every_selected_pod_across_pages(
    k8s: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        k8s.create(objects.pod(f"p{i}", namespace, app="paged"))
    k8s.create(objects.pod("other", namespace, app="not-selected"))
    monkeypatch.setenv("KUBECONFIG", str(k8s.cluster.kubeconfig))
    monkeypatch.setattr(kube_client, "POD_PAGE", 2)
    client = await kube_client.connect()
    calls: list[Any] = []
    request = client.request

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("query"))
        return await request(*args, **kwargs)

    monkeypatch.setattr(client, "request", counted)
    try:
        pods = await client.list_pods(namespace, "app=paged")
    finally:
        await client.close()
    assert sorted(p["metadata"]["name"] for p in pods) == [f"p{i}" for i in range(5)]
    assert len(calls) == 3  # pages of 2, 2 and 1


async def test_pod_lists_in_flight_are_bounded(
    k8s: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many gates listing at once share ``POD_LISTS`` requests, so as many TLS connections
    (each ~300 KiB) at most, and every list still gets its pods."""
    k8s.create(objects.pod("p0", namespace, app="bounded"))
    monkeypatch.setenv("KUBECONFIG", str(k8s.cluster.kubeconfig))
    client = await kube_client.connect()
    in_flight, peak = 0, 0
    request = client.request

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await request(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(client, "request", counted)
    try:
        lists = [
            client.list_pods(namespace, "app=bounded") for _ in range(4 * kube_client.POD_LISTS)
        ]
        results = await asyncio.gather(*lists)
    finally:
        await client.close()
    assert all([p["metadata"]["name"] for p in pods] == ["p0"] for pods in results)
    assert peak == kube_client.POD_LISTS

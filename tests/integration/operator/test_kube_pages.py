"""The operator's pod LIST comes in pages (so decoding a big one never holds the event loop the
webhook answers on), and the pages add up to every selected pod: on the real API server."""

from __future__ import annotations

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

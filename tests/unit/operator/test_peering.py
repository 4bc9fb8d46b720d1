"""handlers.ensure_peering: which Kopf peering objects a configuration needs."""

from __future__ import annotations

from healthgate_operator import config
from healthgate_operator.handlers import ensure_peering


def test_clusterwide() -> None:
    objects = ensure_peering.peering_objects(config.parse([], {}))
    assert objects == [
        (
            "/apis/kopf.dev/v1/clusterkopfpeerings",
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": "healthgate"},
            },
        )
    ]


def test_namespaced_and_standalone() -> None:
    objects = ensure_peering.peering_objects(config.parse(["-n", "a", "-n", "b"], {}))
    assert [path for path, _ in objects] == [
        "/apis/kopf.dev/v1/namespaces/a/kopfpeerings",
        "/apis/kopf.dev/v1/namespaces/b/kopfpeerings",
    ]
    assert ensure_peering.peering_objects(config.parse(["--standalone"], {})) == []

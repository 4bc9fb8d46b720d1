"""Create the Kopf peering object at startup when it is missing.

With a peering name, Kopf pauses until it sees the named ClusterKopfPeering (cluster-wide) or
KopfPeering (per namespace) but never creates it; a fresh install would wait forever. deploy/
ships the object too; this covers installs that only applied the CRDs.
"""

from __future__ import annotations

import logging
from typing import Any

from healthgate_operator.config import OperatorConfig
from healthgate_operator.kube import Kube, KubeError
from healthgate_operator.kubetypes import Json

PEERING_API = "/apis/kopf.dev/v1"


def peering_objects(config: OperatorConfig) -> list[tuple[str, Json]]:
    """(collection path, object) pairs this configuration needs (this shard's own object)."""
    name = config.peering.object_name
    if name is None:
        return []
    if config.scope.clusterwide:
        body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering"}
        return [(f"{PEERING_API}/clusterkopfpeerings", {**body, "metadata": {"name": name}})]
    return [
        (
            f"{PEERING_API}/namespaces/{ns}/kopfpeerings",
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering",
                "metadata": {"name": name, "namespace": ns},
            },
        )
        for ns in config.scope.namespaces
    ]


async def ensure(
    kube: Kube, config: OperatorConfig, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    for path, body in peering_objects(config):
        try:
            await kube.request("POST", path, body=body)
            logger.info("Created the peering object %s.", body["metadata"]["name"])
        except KubeError as exc:
            if exc.status != 409:  # 409: it exists, the normal case
                logger.error("Cannot create the peering object (Kopf will wait for it): %s", exc)

"""Manifests the operator writes: the config ConfigMap, rollout restarts, the webhook caBundle."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from healthgate_operator import constants
from healthgate_operator.builders import selectors
from healthgate_operator.builders.config import RenderedConfig
from healthgate_operator.kubetypes import Json


def owner_reference(gate: Json) -> Json:
    meta = gate["metadata"]
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }


def build_configmap(gate: Json, rendered: RenderedConfig) -> Json:
    """The ConfigMap mounted by injected sidecars; garbage-collected with its gate."""
    meta = gate["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": constants.configmap_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {
                constants.LABEL_MANAGED_BY: constants.MANAGER,
                constants.LABEL_GATE: meta["name"],
            },
            "annotations": {"healthgate.io/config-hash": rendered.hash},
            "ownerReferences": [owner_reference(gate)],
        },
        "data": {constants.CONFIG_KEY: rendered.text},
    }


def build_restart_patch(injection_hash: str, now: str) -> Json:
    """What ``kubectl rollout restart`` does, plus a marker so we restart once per injection."""
    return {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        constants.ANNOTATION_RESTARTED_AT: now,
                        constants.ANNOTATION_RESTARTED_FOR: injection_hash,
                    }
                }
            }
        }
    }


def conflicts(
    name: str, pod_labels: Iterable[dict[str, str]], others: Iterable[Json]
) -> list[Json]:
    """Other gates selecting some of this gate's pods, and who wins (alphabetically first).

    Pods are matched per distinct label set: a workload's pods share theirs, so 10 pods and
    100 other gates are 100 matches, not 1,000 (every gate, every status round).
    """
    distinct = collections.Counter(tuple(sorted(labels.items())) for labels in pod_labels)
    label_sets = [(dict(key), count) for key, count in distinct.items()]
    out = []
    for other in sorted(others, key=lambda g: str(g["metadata"]["name"])):
        other_name = str(other["metadata"]["name"])
        if other_name == name:
            continue
        selector = other.get("spec", {}).get("selector") or {}
        shared = sum(n for labels, n in label_sets if selectors.matches(selector, labels))
        if shared:
            out.append({"gate": other_name, "pods": shared, "winner": min(name, other_name)})
    return out


# The kinds of the webhook configurations the install ships under one name (chart:
# templates/admission.yaml, kustomize: deploy/admission.yaml); the operator only ever touches
# their caBundle.
WEBHOOK_KINDS: tuple[str, ...] = (
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
)


def ca_bundle_patch(configuration: Json, ca_bundle: str) -> list[Json]:
    """A JSON patch setting ``caBundle`` of every webhook that lacks it; empty when all have it.

    Each change is guarded by a ``test`` of the webhook's name, so a configuration edited in
    between fails the patch (and the caller retries on the fresh object) instead of landing on
    the wrong webhook.
    """
    ops: list[Json] = []
    for index, webhook in enumerate(configuration.get("webhooks") or []):
        if (webhook.get("clientConfig") or {}).get("caBundle") == ca_bundle:
            continue
        ops.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook["name"]})
        path = f"/webhooks/{index}/clientConfig/caBundle"
        ops.append({"op": "add", "path": path, "value": ca_bundle})
    return ops

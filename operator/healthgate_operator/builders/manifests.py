"""Manifests the operator writes: the config ConfigMap, rollout restarts, the webhook config."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from healthgate_operator import constants
from healthgate_operator.builders import selectors
from healthgate_operator.builders.config import RenderedConfig

Json = dict[str, Any]


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
    """Other gates selecting some of this gate's pods, and who wins (alphabetically first)."""
    labels = list(pod_labels)
    out = []
    for other in sorted(others, key=lambda g: str(g["metadata"]["name"])):
        other_name = str(other["metadata"]["name"])
        if other_name == name:
            continue
        selector = other.get("spec", {}).get("selector") or {}
        shared = sum(selectors.matches(selector, pod) for pod in labels)
        if shared:
            out.append({"gate": other_name, "pods": shared, "winner": min(name, other_name)})
    return out


def namespace_selector(
    skip: Collection[str], only: Collection[str], extra: Json | None = None
) -> Json:
    """System namespaces (and ``skip``) never reach the webhook; ``only`` when namespaced.

    ``extra`` (the user's ``--webhook-namespace-selector``) can only narrow this further: its
    labels and expressions are ANDed after ours, so no setting brings kube-system back.
    """
    key = "kubernetes.io/metadata.name"  # set on every namespace by the API server
    expressions: list[Json] = [
        {"key": key, "operator": "NotIn", "values": sorted(set(skip) | constants.SYSTEM_NAMESPACES)}
    ]
    if only:
        expressions.append({"key": key, "operator": "In", "values": sorted(only)})
    expressions.extend((extra or {}).get("matchExpressions") or [])
    selector: Json = {"matchExpressions": expressions}
    if (extra or {}).get("matchLabels"):
        selector["matchLabels"] = dict((extra or {})["matchLabels"])
    return selector


def cluster_role_owner(role: Json) -> Json:
    """An ownerReference to a ClusterRole: cluster-scoped, so it may own cluster-scoped objects.

    Not a controller reference and no blockOwnerDeletion (that would need update on the role's
    finalizers): garbage collection alone is the point.
    """
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
        "uid": role["metadata"]["uid"],
    }


def build_webhook_configuration(
    *,
    url: str,
    ca_bundle: str | None,
    failure_policy: str,
    skip_namespaces: Collection[str],
    only_namespaces: Collection[str] = (),
    timeout_seconds: int = 5,
    extra_namespace_selector: Json | None = None,
    owner: Json | None = None,
) -> Json:
    """The MutatingWebhookConfiguration for pod CREATE.

    The namespaceSelector keeps system namespaces out at the API server, so they never depend on
    the operator even with ``failurePolicy: Fail``; a short timeout bounds the delay a hung
    operator adds to every pod creation when the policy is Ignore.
    """
    client_config: Json = {"url": f"{url.rstrip('/')}/{constants.WEBHOOK_HANDLER_ID}"}
    if ca_bundle:
        client_config["caBundle"] = ca_bundle
    webhook = {
        "name": f"inject.{constants.WEBHOOK_CONFIGURATION}",
        "admissionReviewVersions": ["v1"],
        "clientConfig": client_config,
        "failurePolicy": failure_policy,
        "matchPolicy": "Equivalent",
        "namespaceSelector": namespace_selector(
            skip_namespaces, only_namespaces, extra_namespace_selector
        ),
        "objectSelector": {},
        # Later admission steps (the service account token volume) must not call us
        # again: we would only answer "already injected".
        "reinvocationPolicy": "Never",
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }
        ],
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
    }
    metadata: Json = {
        "name": constants.WEBHOOK_CONFIGURATION,
        "labels": {constants.LABEL_MANAGED_BY: constants.MANAGER},
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }

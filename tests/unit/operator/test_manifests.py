"""builders.manifests: ConfigMap, restart patch, conflicts, webhook configuration."""

from __future__ import annotations

from typing import Any

from healthgate_operator.builders import config, manifests
from tests.unit.operator.conftest import SPEC, make_gate


def test_configmap_is_owned_labelled_and_secret_free() -> None:
    gate = make_gate()
    rendered = config.render_config(SPEC)
    cm = manifests.build_configmap(gate, rendered)
    assert cm["metadata"]["name"] == "tta-api-healthgate"
    assert cm["metadata"]["namespace"] == "tta"
    assert cm["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "healthgate.io/v1alpha1",
            "kind": "HealthGate",
            "name": "tta-api",
            "uid": "uid-tta-api",
            "controller": True,
        }
    ]
    assert cm["metadata"]["labels"]["healthgate.io/gate"] == "tta-api"
    text = cm["data"]["config.yaml"]
    assert "urlFile: /var/run/healthgate/secrets/HG_CACHE_URL" in text
    assert "redis-auth" not in text  # not even the Secret's name is needed by the sidecar


def test_restart_patch_like_kubectl_rollout_restart() -> None:
    patch = manifests.build_restart_patch("abc", "2026-01-01T00:00:00Z")
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
        "healthgate.io/restarted-for": "abc",
    }


def test_conflicts_report_shared_pods_and_winner() -> None:
    other = make_gate("alpha")
    unrelated = make_gate("zulu")
    unrelated["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    labels = [{"app": "tta-api"}, {"app": "tta-api"}, {"app": "x"}]
    found = manifests.conflicts("tta-api", labels, [make_gate(), other, unrelated])
    assert found == [{"gate": "alpha", "pods": 2, "winner": "alpha"}]


def test_ca_bundle_patch_sets_only_missing_or_stale_bundles() -> None:
    config: dict[str, Any] = {
        "webhooks": [
            {"name": "inject.healthgate.io", "clientConfig": {"service": {"name": "hg"}}},
            {"name": "other.healthgate.io", "clientConfig": {"caBundle": "Q0E="}},
        ]
    }
    assert manifests.ca_bundle_patch(config, "Q0E=") == [
        {"op": "test", "path": "/webhooks/0/name", "value": "inject.healthgate.io"},
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Q0E="},
    ]
    config["webhooks"][0]["clientConfig"]["caBundle"] = "Q0E="
    assert manifests.ca_bundle_patch(config, "Q0E=") == []
    assert manifests.ca_bundle_patch({"webhooks": []}, "Q0E=") == []

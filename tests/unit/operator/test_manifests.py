"""builders.manifests: ConfigMap, restart patch, conflicts, webhook configuration."""

from __future__ import annotations

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


def test_webhook_configuration() -> None:
    body = manifests.build_webhook_configuration(
        url="https://127.0.0.1:9443/",
        ca_bundle="Q0E=",
        failure_policy="Ignore",
        skip_namespaces=["healthgate-system"],
        only_namespaces=["team-a"],
        timeout_seconds=5,
    )
    hook = body["webhooks"][0]
    assert body["metadata"]["name"] == "healthgate.io"
    assert hook["clientConfig"] == {
        "url": "https://127.0.0.1:9443/inject-sidecar",
        "caBundle": "Q0E=",
    }
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    assert hook["rules"][0]["operations"] == ["CREATE"]
    assert hook["rules"][0]["resources"] == ["pods"]
    expressions = hook["namespaceSelector"]["matchExpressions"]
    assert expressions[0]["operator"] == "NotIn"
    assert set(expressions[0]["values"]) == {
        "healthgate-system",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }
    assert expressions[1] == {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ["team-a"],
    }
    assert "ownerReferences" not in body["metadata"]


def test_user_namespace_selector_only_narrows() -> None:
    """--webhook-namespace-selector is ANDed after the exclusions: kube-system stays out."""
    extra = {
        "matchLabels": {"healthgate.io/inject": "enabled"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}],
    }
    selector = manifests.namespace_selector(["ops"], [], extra)
    assert selector["matchLabels"] == {"healthgate.io/inject": "enabled"}
    first, second = selector["matchExpressions"]
    assert first["operator"] == "NotIn"
    assert {"kube-system", "ops"} <= set(first["values"])
    assert second == {"key": "tier", "operator": "NotIn", "values": ["batch"]}
    assert "matchLabels" not in manifests.namespace_selector([], [], {})


def test_webhook_configuration_owned_by_the_install_cluster_role() -> None:
    role = {"metadata": {"name": "healthgate", "uid": "1234-abcd"}}
    body = manifests.build_webhook_configuration(
        url="https://hg.ops.svc:443",
        ca_bundle=None,
        failure_policy="Fail",
        skip_namespaces=[],
        owner=manifests.cluster_role_owner(role),
    )
    assert body["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "name": "healthgate",
            "uid": "1234-abcd",
        }
    ]
    assert "caBundle" not in body["webhooks"][0]["clientConfig"]

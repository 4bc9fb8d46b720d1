"""Reconcile: the ConfigMap is rendered, updated, garbage-collected; invalid specs; secrets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube, Operator

pytestmark = pytest.mark.integration
Json = dict[str, Any]
CANARY_URL = "redis://:canary-Url-Pw-5b2c@cache:6379/0"
CANARY_TOKEN = "canary-Token-9d4e"


def configmap(k8s: Kube, namespace: str, gate: str) -> Json | None:
    return k8s.get("configmap", f"{gate}-healthgate", namespace)


def condition(body: Json | None, type_: str) -> Json | None:
    for item in ((body or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return None


def test_configmap_rendered_and_updated_on_spec_change(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    manifest = objects.gate("api", namespace)
    k8s.apply(manifest)
    cm = wait_for("the ConfigMap", lambda: configmap(k8s, namespace, "api"))
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert (
        config["dependencies"][0]["redis"]["urlFile"] == "/var/run/healthgate/secrets/HG_CACHE_URL"
    )
    owner = cm["metadata"]["ownerReferences"][0]
    gate = k8s.fetch("hg", "api", namespace)
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "HealthGate",
        "api",
        gate["metadata"]["uid"],
    )
    reconciled = wait_for(
        "Reconciled", lambda: condition(k8s.get("hg", "api", namespace), "Reconciled")
    )
    assert reconciled["status"] == "True"

    changed = copy.deepcopy(manifest)
    changed["spec"]["dependencies"][0]["intervalSeconds"] = 7
    k8s.apply(changed)

    def updated() -> Json | None:
        found = configmap(k8s, namespace, "api")
        data = yaml.safe_load(found["data"]["config.yaml"]) if found else None
        return found if data and data["dependencies"][0]["intervalSeconds"] == 7 else None

    wait_for("the updated ConfigMap", updated)

    def observed() -> Json | None:
        body = k8s.get("hg", "api", namespace) or {}
        cond = condition(body, "Reconciled") or {}
        return body if cond.get("observedGeneration") == 2 else None

    body = wait_for("observedGeneration 2", observed)
    assert body["status"]["observedGeneration"] == 2


def test_configmap_is_garbage_collected_with_its_gate(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("gone", namespace))
    wait_for("the ConfigMap", lambda: configmap(k8s, namespace, "gone"))
    k8s.run("delete", "hg", "gone", "-n", namespace)
    wait_for("garbage collection", lambda: configmap(k8s, namespace, "gone") is None, timeout=60)


def test_invalid_spec_past_the_schema_is_a_status_not_a_crash(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    # CEL cannot check that a regular expression compiles; the contract can.
    dep: Json = {"name": "site", "type": "http", "http": {"url": "http://x/", "bodyRegex": "("}}
    k8s.apply(objects.gate("broken", namespace, [dep]))

    def reconciled_false() -> Json | None:
        cond = condition(k8s.get("hg", "broken", namespace), "Reconciled") or {}
        return cond if cond.get("status") == "False" else None

    cond = wait_for("Reconciled=False", reconciled_false)
    assert cond["reason"] == "InvalidSpec"
    assert "bodyRegex" in cond["message"]
    assert configmap(k8s, namespace, "broken") is None
    assert operator.process is not None
    assert operator.process.alive
    # Fixing the spec reconciles it.
    dep["http"]["bodyRegex"] = "ok"
    k8s.apply(objects.gate("broken", namespace, [dep]))
    wait_for("the ConfigMap after the fix", lambda: configmap(k8s, namespace, "broken"))


def test_secret_values_never_leave_the_secret(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.secret("redis-auth", namespace, {"url": CANARY_URL}))
    k8s.apply(objects.secret("api", namespace, {"token": CANARY_TOKEN}))
    site = {
        "name": "site",
        "type": "http",
        "http": {
            "url": "http://127.0.0.1:9/",
            "headers": [
                {
                    "name": "Authorization",
                    "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}},
                }
            ],
        },
    }
    k8s.apply(objects.gate("secret", namespace, [objects.REDIS_DEP, site]))
    cm = wait_for("the ConfigMap", lambda: configmap(k8s, namespace, "secret"))
    k8s.apply(objects.pod("p", namespace))
    wait_for(
        "a status", lambda: (k8s.get("hg", "secret", namespace) or {}).get("status", {}).get("pods")
    )
    pod = k8s.fetch("pod", "p", namespace)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    sources = volumes["healthgate-secrets"]["projected"]["sources"]
    paths = {item["path"] for source in sources for item in source["secret"]["items"]}
    assert paths == {"HG_CACHE_URL", "HG_SITE_HEADERS_0_VALUE"}
    assert not objects.sidecars(pod)[0].get("env")  # the API server drops an empty list
    everything = [
        str(cm),
        k8s.run("get", "hg", "secret", "-n", namespace, "-o", "yaml"),
        k8s.run("get", "events", "-n", namespace, "-o", "yaml"),
        k8s.run("get", "pod", "p", "-n", namespace, "-o", "yaml"),
        operator.log(),
        operator.metrics(),
    ]
    for text in everything:
        assert "canary" not in text.lower()

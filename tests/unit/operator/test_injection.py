"""builders.injection: the native sidecar container, volumes, annotations, and the hash."""

from __future__ import annotations

import copy
from typing import Any

from healthgate_operator import constants
from healthgate_operator.builders import config, injection
from tests.unit.operator.conftest import SPEC, injected_pod, make_pod

IMAGE = "registry.example/healthgate:test"
DEFAULTS = injection.SidecarDefaults(image=IMAGE)


def container(
    spec: dict[str, Any] | None = None, defaults: injection.SidecarDefaults = DEFAULTS
) -> dict[str, Any]:
    spec = SPEC if spec is None else spec
    return injection.build_sidecar_container(spec, config.render_config(spec), defaults)


def test_native_sidecar_with_command_and_port() -> None:
    c = container()
    assert c["name"] == "healthgate"
    assert c["restartPolicy"] == "Always"
    assert c["image"] == IMAGE
    assert c["command"] == [
        "healthgate-sidecar",
        "serve",
        "--config",
        "/etc/healthgate/config.yaml",
    ]
    assert c["args"] == ["--host", "0.0.0.0", "--port", "8086"]
    assert c["ports"] == [{"name": "healthgate", "containerPort": 8086, "protocol": "TCP"}]


def test_gate_image_wins_over_default() -> None:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"]["image"] = "mine:1"
    assert container(spec)["image"] == "mine:1"


def test_probes_use_gate_settings_over_defaults() -> None:
    spec = copy.deepcopy(SPEC)
    spec["probes"] = {"liveness": {"periodSeconds": 20}, "startup": {"failureThreshold": 60}}
    spec["sidecar"]["port"] = 9000
    c = container(spec)
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": 9000},
        "periodSeconds": 5,
        "failureThreshold": 2,
        "timeoutSeconds": 1,
    }
    assert c["livenessProbe"]["periodSeconds"] == 20
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["failureThreshold"] == 60
    assert c["startupProbe"]["httpGet"]["path"] == "/startupz"


def test_security_context_passes_restricted() -> None:
    sc = container()["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert isinstance(sc["runAsUser"], int)
    assert sc["runAsUser"] > 0


def test_resources_default_when_unset() -> None:
    spec = copy.deepcopy(SPEC)
    del spec["sidecar"]
    assert container(spec)["resources"] == {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"memory": "160Mi"},
    }
    assert container()["resources"] == {"requests": {"cpu": "10m", "memory": "48Mi"}}


def test_operator_defaults_fill_what_the_gate_leaves_unset() -> None:
    """--sidecar-image/-port/-resources apply only where spec.sidecar says nothing."""
    defaults = injection.SidecarDefaults(
        image="mirror.example/hg:2", port=9100, resources={"limits": {"memory": "1Gi"}}
    )
    spec = copy.deepcopy(SPEC)
    del spec["sidecar"]
    c = container(spec, defaults)
    assert c["image"] == "mirror.example/hg:2"
    assert c["ports"][0]["containerPort"] == 9100
    assert c["args"] == ["--host", "0.0.0.0", "--port", "9100"]
    assert c["readinessProbe"]["httpGet"]["port"] == 9100
    assert c["resources"] == {"limits": {"memory": "1Gi"}}
    c["resources"]["limits"]["memory"] = "2Gi"  # a copy: one pod cannot change the defaults
    assert defaults.resources == {"limits": {"memory": "1Gi"}}
    own = container(SPEC, defaults)  # the gate's own port and resources win
    assert own["ports"][0]["containerPort"] == 8086
    assert own["resources"] == {"requests": {"cpu": "10m", "memory": "48Mi"}}


def test_pod_sidecar_port_reads_the_injected_container() -> None:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"]["port"] = 9200
    pod = inject(make_pod(), spec)
    assert injection.pod_sidecar_port(pod) == 9200
    assert injection.pod_sidecar_port(make_pod()) is None


def test_secret_env_uses_secret_key_refs_only() -> None:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"]["secretsAs"] = "env"
    # Exactly the spec's two secret references, each only as a secretKeyRef (never a value).
    assert container(spec)["env"] == [
        {
            "name": "HG_CACHE_URL",
            "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}},
        },
        {
            "name": "HG_GRAPH_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}},
        },
    ]


def test_secrets_are_a_projected_volume_mounted_read_only() -> None:
    out = inject(make_pod())
    sidecar = out["spec"]["initContainers"][0]
    assert injection.SOURCES_KEY not in sidecar  # bookkeeping, never sent to the API server
    mount = next(m for m in sidecar["volumeMounts"] if m["name"] == "healthgate-secrets")
    assert mount == {
        "name": "healthgate-secrets",
        "mountPath": "/var/run/healthgate/secrets",
        "readOnly": True,
    }  # no subPath: the kubelet could not update a subPath mount
    volume = next(v for v in out["spec"]["volumes"] if v["name"] == "healthgate-secrets")
    names = [s["secret"]["name"] for s in volume["projected"]["sources"]]
    assert names == ["redis-auth", "neo4j-auth"]
    assert sidecar["env"] == []


def test_no_secret_refs_no_secret_volume() -> None:
    spec = copy.deepcopy(SPEC)
    spec["dependencies"] = spec["dependencies"][2:]
    out = inject(make_pod(), spec)
    assert {v["name"] for v in out["spec"]["volumes"]} == {"healthgate-config", "healthgate-tmp"}


def test_hash_follows_secret_references() -> None:
    base = injection.injection_hash("g", container())
    spec = copy.deepcopy(SPEC)
    spec["dependencies"][0]["redis"]["urlFrom"]["secretKeyRef"]["name"] = "redis-auth-2"
    assert injection.injection_hash("g", container(spec)) != base


def inject(pod: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = SPEC if spec is None else spec
    rendered = config.render_config(spec)
    c = injection.build_sidecar_container(spec, rendered, DEFAULTS)
    return injection.inject(pod, "tta-api", c, rendered)


def test_inject_prepends_sidecar_adds_volumes_and_annotations() -> None:
    pod = make_pod()
    pod["spec"]["initContainers"] = [{"name": "migrate", "image": "m:1"}]
    out = inject(pod)
    assert [c["name"] for c in out["spec"]["initContainers"]] == ["healthgate", "migrate"]
    assert {v["name"] for v in out["spec"]["volumes"]} == {
        "healthgate-config",
        "healthgate-tmp",
        "healthgate-secrets",
    }
    cm = next(v for v in out["spec"]["volumes"] if v["name"] == "healthgate-config")
    assert cm["configMap"]["name"] == "tta-api-healthgate"
    annotations = out["metadata"]["annotations"]
    assert annotations[constants.ANNOTATION_GATE] == "tta-api"
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8086"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert len(annotations[constants.ANNOTATION_INJECTION_HASH]) == 16
    assert "initContainers" not in make_pod()["spec"]  # the input is not modified
    assert injection.has_sidecar(out)


def test_env_check_copies_the_apps_definitions() -> None:
    spec = copy.deepcopy(SPEC)
    spec["dependencies"].append({"name": "email", "type": "env", "env": {"names": ["SMTP_HOST"]}})
    pod = make_pod()
    ref = {"name": "SMTP_HOST", "valueFrom": {"configMapKeyRef": {"name": "mail", "key": "host"}}}
    pod["spec"]["containers"][0]["env"] = [ref, {"name": "OTHER", "value": "x"}]
    pod["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "app-env"}}]
    sidecar = inject(pod, spec)["spec"]["initContainers"][0]
    assert ref in sidecar["env"]
    assert all(e["name"] != "OTHER" for e in sidecar["env"])
    assert sidecar["envFrom"] == [{"secretRef": {"name": "app-env"}}]


def test_hash_is_stable_and_follows_restart_relevant_changes() -> None:
    base = injection.injection_hash("g", container())
    assert injection.injection_hash("g", container()) == base
    spec = copy.deepcopy(SPEC)
    spec["probes"]["readiness"]["periodSeconds"] = 7
    assert injection.injection_hash("g", container(spec)) != base
    spec = copy.deepcopy(SPEC)
    spec["dependencies"][0]["intervalSeconds"] = 30  # config only: hot-reloaded, no restart
    assert injection.injection_hash("g", container(spec)) == base


def test_used_ports() -> None:
    pod = make_pod()
    assert injection.used_ports(pod) == {80}


def test_only_pods_the_webhook_injected_count_as_injected() -> None:
    """A forged pod (opted out, own 'healthgate' init container, the gate annotation) is not."""
    pod = injected_pod()
    assert injection.injected_by(pod, "tta-api")
    assert not injection.injected_by(pod, "other-gate")

    forged = make_pod(
        annotations={"healthgate.io/inject": "false", "healthgate.io/gate": "tta-api"}
    )
    forged["spec"]["initContainers"] = [
        {
            "name": "healthgate",
            "image": "mine",
            "ports": [{"name": "healthgate", "containerPort": 1}],
        }
    ]
    assert not injection.injected_by(forged, "tta-api")
    copied = copy.deepcopy(pod)
    copied["metadata"]["annotations"]["healthgate.io/inject"] = "false"
    assert not injection.injected_by(copied, "tta-api")
    elsewhere = copy.deepcopy(pod)
    elsewhere["spec"]["volumes"] = [
        {"name": "healthgate-config", "configMap": {"name": "my-own-config"}}
    ]
    assert not injection.injected_by(elsewhere, "tta-api")

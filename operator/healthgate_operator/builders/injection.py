"""The injected sidecar: a native sidecar container, its volumes, and the pod annotations.

Pure functions of the gate and the pod, so the webhook's answer can be unit-tested and so the
status timer can recompute :func:`injection_hash` to tell current injections from outdated ones.
The container passes Pod Security "restricted" on its own (non-root, no privilege escalation, no
capabilities, RuntimeDefault seccomp, read-only root filesystem).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

from healthgate_operator import constants
from healthgate_operator.builders import config
from healthgate_operator.builders.config import RenderedConfig
from healthgate_operator.crd import parts
from healthgate_operator.kubetypes import Json
from healthgate_sidecar import wire

PROBE_FIELDS = ("readiness", "liveness", "startup")
SECRETS_VOLUME = "healthgate-secrets"
# The projected Secret volume's sources ride along in the container dict, so that
# :func:`injection_hash` (which sees only the container) covers them and :func:`inject` can
# build the volume; :func:`inject` takes the key out before the container reaches a pod.
SOURCES_KEY = "x-healthgate-secret-sources"


@dataclass(frozen=True)
class SidecarDefaults:
    """What a gate's ``spec.sidecar`` falls back to: the operator's ``--sidecar-*`` flags."""

    image: str = constants.DEFAULT_IMAGE
    port: int = constants.DEFAULT_PORT
    resources: Json = field(default_factory=lambda: copy.deepcopy(parts.DEFAULT_RESOURCES))


def sidecar_port(spec: Json, default: int = constants.DEFAULT_PORT) -> int:
    return int((spec.get("sidecar") or {}).get("port") or default)


def pod_sidecar_port(pod: Json) -> int | None:
    """The port of the sidecar injected into ``pod``, as injected (flags may have changed)."""
    for container in pod.get("spec", {}).get("initContainers") or []:
        if container.get("name") == constants.SIDECAR_NAME:
            for port in container.get("ports") or []:
                if port.get("name") == constants.SIDECAR_NAME:
                    return int(port["containerPort"])
    return None


def build_probe(kind: str, port: int, settings: Json | None) -> Json:
    """An httpGet probe on the sidecar's port with the gate's settings over our defaults."""
    values = {**parts.PROBE_DEFAULTS[kind], **(settings or {})}
    return {"httpGet": {"path": parts.PROBE_PATHS[kind], "port": port}, **values}


def security_context() -> Json:
    return {
        "runAsNonRoot": True,
        "runAsUser": constants.SIDECAR_UID,
        "runAsGroup": constants.SIDECAR_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def build_sidecar_container(
    spec: Json, rendered: RenderedConfig, defaults: SidecarDefaults
) -> Json:
    """The gate-derived sidecar container (pod-specific env is added by :func:`inject`)."""
    sidecar: Json = spec.get("sidecar") or {}
    port = sidecar_port(spec, defaults.port)
    probes: Json = spec.get("probes") or {}
    container: Json = {
        "name": constants.SIDECAR_NAME,
        "image": sidecar.get("image") or defaults.image,
        "imagePullPolicy": "IfNotPresent",
        # Native sidecar (Kubernetes 1.29+): starts before the app containers, runs alongside.
        "restartPolicy": "Always",
        "command": wire.serve_command(constants.CONFIG_PATH),
        "args": wire.serve_args(port=port),
        "ports": [{"name": constants.SIDECAR_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": copy.deepcopy(rendered.env),
        "volumeMounts": [
            {"name": constants.CONFIG_VOLUME, "mountPath": constants.CONFIG_DIR, "readOnly": True},
            # The root filesystem is read-only; Python and libraries may still want a /tmp.
            {"name": constants.TMP_VOLUME, "mountPath": "/tmp"},  # noqa: S108
        ],
        "readinessProbe": build_probe("readiness", port, probes.get("readiness")),
        "livenessProbe": build_probe("liveness", port, probes.get("liveness")),
        "startupProbe": build_probe("startup", port, probes.get("startup")),
        "resources": copy.deepcopy(sidecar.get("resources") or defaults.resources),
        "securityContext": security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if rendered.secret_sources:
        container["volumeMounts"].append(
            {"name": SECRETS_VOLUME, "mountPath": config.SECRETS_DIR, "readOnly": True}
        )
        container[SOURCES_KEY] = copy.deepcopy(rendered.secret_sources)
    return container


def build_volumes(gate: str, secret_sources: list[Json] | None = None) -> list[Json]:
    volumes: list[Json] = [
        {"name": constants.CONFIG_VOLUME, "configMap": {"name": constants.configmap_name(gate)}},
        {"name": constants.TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if secret_sources:
        # Projected, not subPath-mounted: the kubelet swaps the files when a Secret changes.
        projected = {"sources": copy.deepcopy(secret_sources)}
        volumes.append({"name": SECRETS_VOLUME, "projected": projected})
    return volumes


def injection_hash(gate: str, container: Json) -> str:
    """Fingerprint of everything a running pod cannot pick up without a restart."""
    volumes = build_volumes(gate, container.get(SOURCES_KEY))
    payload = json.dumps({"container": container, "volumes": volumes}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def env_check_passthrough(pod: Json, rendered: RenderedConfig) -> tuple[list[Json], list[Json]]:
    """Env entries (and envFrom sources) of the app containers that ``env`` checks look at.

    An ``env`` dependency asks "is SMTP_HOST configured in the app?"; the sidecar can only see
    its own environment, so the app's definitions of those names are copied: references stay
    references (the operator reads no value), literals stay in the pod they came from.
    """
    wanted = rendered.env_names
    if not wanted:
        return [], []
    env: dict[str, Json] = {}
    env_from: list[Json] = []
    for container in pod.get("spec", {}).get("containers", []):
        for entry in container.get("env") or []:
            if entry.get("name") in wanted:
                env.setdefault(entry["name"], copy.deepcopy(entry))
        for source in container.get("envFrom") or []:
            if source not in env_from:
                env_from.append(copy.deepcopy(source))
    return list(env.values()), env_from


def has_sidecar(pod: Json) -> bool:
    spec = pod.get("spec", {})
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    return any(c.get("name") == constants.SIDECAR_NAME for c in containers)


def injected_by(pod: Json, gate: str) -> bool:
    """Whether ``gate``'s webhook injected this pod, as far as the pod can tell.

    A name and an annotation are easy to forge (a pod with ``inject: "false"``, its own init
    container named healthgate and ``healthgate.io/gate`` would be counted and probed on the
    port it chooses). So this asks for what the webhook does and a forger gains nothing by
    copying: not opted out, the injection hash annotation, the sidecar first among the init
    containers with a named port, and mounting the volume that is this gate's ConfigMap. A pod
    passing all of it runs a health sidecar on the gate's own config: counting it is right.
    """
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    annotations = meta.get("annotations") or {}
    if str(annotations.get(constants.ANNOTATION_INJECT, "")).lower() == "false":
        return False
    if annotations.get(constants.ANNOTATION_GATE) != gate:
        return False
    if not annotations.get(constants.ANNOTATION_INJECTION_HASH):
        return False
    first: Json = next(iter(spec.get("initContainers") or []), {})
    if first.get("name") != constants.SIDECAR_NAME or pod_sidecar_port(pod) is None:
        return False
    mounts = {m.get("name") for m in first.get("volumeMounts") or []}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    config = (volumes.get(constants.CONFIG_VOLUME) or {}).get("configMap") or {}
    return constants.CONFIG_VOLUME in mounts and config.get("name") == constants.configmap_name(
        gate
    )


def used_ports(pod: Json) -> set[int]:
    spec = pod.get("spec", {})
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    return {p.get("containerPort") for c in containers for p in c.get("ports") or []}


def inject(pod: Json, gate: str, container: Json, rendered: RenderedConfig) -> Json:
    """A copy of ``pod`` with the sidecar, its volumes and annotations added."""
    pod = copy.deepcopy(pod)
    sidecar = copy.deepcopy(container)
    secret_sources = sidecar.pop(SOURCES_KEY, None)
    env, env_from = env_check_passthrough(pod, rendered)
    sidecar["env"] = sidecar["env"] + env
    if env_from:
        sidecar["envFrom"] = env_from
    spec = pod.setdefault("spec", {})
    # First, so that other init containers (migrations, say) also wait for the dependencies.
    spec["initContainers"] = [sidecar, *(spec.get("initContainers") or [])]
    spec["volumes"] = [*(spec.get("volumes") or []), *build_volumes(gate, secret_sources)]
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    port = sidecar["ports"][0]["containerPort"]
    annotations.update(
        {
            constants.ANNOTATION_GATE: gate,
            constants.ANNOTATION_INJECTION_HASH: injection_hash(gate, container),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    )
    return pod

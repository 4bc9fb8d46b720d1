"""Names shared by the CRD, the builders and the handlers: one place, so they cannot drift."""

from __future__ import annotations

from typing import Final

from healthgate_operator import __version__
from healthgate_sidecar import wire

GROUP: Final = "healthgate.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "healthgates"
SINGULAR: Final = "healthgate"
KIND: Final = "HealthGate"
SHORT_NAMES: Final = ("hg",)
API_VERSION: Final = f"{GROUP}/{VERSION}"

# Pod annotations written or read by the webhook.
ANNOTATION_GATE: Final = "healthgate.io/gate"
ANNOTATION_INJECT: Final = "healthgate.io/inject"
ANNOTATION_INJECTION_HASH: Final = "healthgate.io/injection-hash"
ANNOTATION_RESTARTED_FOR: Final = "healthgate.io/restarted-for"
ANNOTATION_RESTARTED_AT: Final = "kubectl.kubernetes.io/restartedAt"

# The injected pieces of a pod.
SIDECAR_NAME: Final = "healthgate"
CONFIG_VOLUME: Final = "healthgate-config"
TMP_VOLUME: Final = "healthgate-tmp"
CONFIG_DIR: Final = "/etc/healthgate"
CONFIG_KEY: Final = "config.yaml"
CONFIG_PATH: Final = f"{CONFIG_DIR}/{CONFIG_KEY}"
DEFAULT_PORT: Final = wire.DEFAULT_PORT
DEFAULT_IMAGE: Final = f"ghcr.io/healthgate/healthgate:{__version__}"
# Measured (README, Performance): 55 MiB RSS with the redis, http and tcp checks, 98 MiB with
# every driver loaded; the request covers the first, the limit the second with headroom.
DEFAULT_RESOURCES: Final = {
    "requests": {"cpu": "10m", "memory": "64Mi"},
    "limits": {"memory": "160Mi"},
}
# A fixed non-root identity: "restricted" needs runAsNonRoot, which the kubelet can only verify
# for a numeric user, and we cannot assume every image declares one.
SIDECAR_UID: Final = 65532

# Labels on the ConfigMaps we own, so they can be listed and recognised.
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_GATE: Final = "healthgate.io/gate"
MANAGER: Final = "healthgate-operator"

SYSTEM_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})
WEBHOOK_CONFIGURATION: Final = "healthgate.io"
WEBHOOK_HANDLER_ID: Final = "inject-sidecar"
VALIDATE_HANDLER_ID: Final = "validate-gate"


def configmap_name(gate: str) -> str:
    """The ConfigMap holding a gate's rendered sidecar config."""
    return f"{gate}-healthgate"
